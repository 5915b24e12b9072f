"""The hourly bar chart (api/chart.py): bars, axes, labels, and what it says to a reader."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from api.chart import Layout, Series, hourly_bars, nice_step, y_ticks

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 11, 26, 11, tzinfo=UTC)
HOURS = [START + timedelta(hours=n) for n in range(48)]


def chart(pushes: list[int], failures: list[int] | None = None, **kwargs: str) -> ET.Element:
    series = [Series("pushes", "Pushes", "#0b6bcb", pushes)]
    if failures is not None:
        series.append(Series("failures", "Failures", "#c62828", failures))
    svg = hourly_bars(HOURS[: len(pushes)], series, title=kwargs.get("title", "Pushes per hour"),
                      description=kwargs.get("description", "A description."),
                      chart_id="c")
    return ET.fromstring(str(svg))  # noqa: S314 - our own output, under test


def bars(root: ET.Element, name: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == f"bar {name}"]


def texts(root: ET.Element, css: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == css]


@pytest.mark.parametrize(("raw", "step"), [(0, 1), (0.5, 1), (1, 1), (1.5, 2), (3, 5),
                                           (7, 10), (12, 20), (250, 500), (2500, 5000)])
def test_steps_are_round(raw: float, step: int) -> None:
    assert nice_step(raw) == step


def test_ticks_start_at_zero_and_reach_the_largest_value() -> None:
    assert y_ticks(0) == [0, 1]
    assert y_ticks(10) == [0, 5, 10]
    assert y_ticks(1234) == [0, 500, 1000, 1500]


def test_one_bar_per_non_zero_hour_and_series_with_its_value() -> None:
    pushes = [0] * 48
    pushes[3], pushes[10] = 40, 20
    failures = [0] * 48
    failures[10] = 5
    root = chart(pushes, failures)
    drawn = bars(root, "pushes")
    assert [int(b.get("data-value") or 0) for b in drawn] == [40, 20]
    assert drawn[0].get("data-hour") == HOURS[3].isoformat()
    # Heights in proportion: 40 is twice 20.
    heights = [float(b.get("height") or 0) for b in drawn]
    assert heights[0] == pytest.approx(2 * heights[1])
    assert [b.get("data-value") for b in bars(root, "failures")] == ["5"]
    # Bars stand on the baseline, inside the plot.
    layout = Layout()
    baseline = layout.height - layout.bottom
    for bar in drawn:
        assert float(bar.get("y") or 0) + float(bar.get("height") or 0) == pytest.approx(baseline)
        assert layout.left <= float(bar.get("x") or 0) <= layout.width - layout.right


def test_each_bar_says_its_hour_and_count() -> None:
    pushes = [0] * 48
    pushes[0] = 1234
    bar = bars(chart(pushes), "pushes")[0]
    assert bar.find(f"{SVG}title").text == "26 Nov 11:00 UTC: 1,234 pushes"  # type: ignore[union-attr]


def test_axes_label_every_six_hours_and_each_midnight() -> None:
    root = chart([1] * 48)
    assert texts(root, "hour") == ["12:00", "18:00", "00:00", "06:00", "12:00", "18:00",
                                   "00:00", "06:00"]
    assert texts(root, "date") == ["27 Nov", "28 Nov"]
    assert texts(root, "tick") == ["0", "1"]


def test_no_data_draws_axes_and_no_bar() -> None:
    root = chart([0] * 48, [0] * 48)
    assert bars(root, "pushes") == [] and bars(root, "failures") == []
    assert texts(root, "tick") == ["0", "1"]
    assert len(texts(root, "hour")) == 8


def test_one_huge_hour_keeps_the_small_ones_visible() -> None:
    pushes = [1] * 48
    pushes[20] = 1_000_000
    drawn = bars(chart(pushes), "pushes")
    assert len(drawn) == 48
    heights = [float(b.get("height") or 0) for b in drawn]
    assert max(heights) == pytest.approx(Layout().plot_height * 1_000_000 / 1_000_000)
    assert min(heights) >= 1.0
    assert texts(chart(pushes), "tick")[-1] == "1,000,000"


def test_it_is_one_named_image_with_a_description() -> None:
    root = chart([1] * 48, title="Pushes <per> hour", description="1 push & 0 failures")
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Pushes <per> hour"
    assert root.get("aria-describedby") == "c-desc"
    assert root.find(f"{SVG}title").text == "Pushes <per> hour"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.get("id") == "c-desc" and desc.text == "1 push & 0 failures"


def test_no_script_or_style_in_the_svg() -> None:
    svg = str(hourly_bars(HOURS, [Series("p", "P", "#000", [1] * 48)], title="t",
                          description="d", chart_id="c"))
    assert "<script" not in svg and "style=" not in svg and "<style" not in svg
    assert re.search(r'viewBox="0 0 \d+ \d+"', svg)


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="3 values for 48 hours"):
        hourly_bars(HOURS, [Series("p", "P", "#000", [1, 2, 3])], title="t", description="d",
                    chart_id="c")
