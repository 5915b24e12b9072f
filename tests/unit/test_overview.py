"""The overview's pure parts (brevo_sync/overview.py): a listener's state and how it is said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.overview import describe_activity, figure
from brevo_sync.overview import (
    SETTLE_SECONDS,
    SILENT_AFTER_SECONDS,
    Hour,
    ListenerBeat,
    Overview,
    QueueDepth,
    duration,
    hour_window,
    listener_state,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def beat(seen_ago: float, stopped_at: datetime | None = None) -> ListenerBeat:
    return ListenerBeat(worker="h:1:abc", host="h", pid=1, started_at=NOW - timedelta(hours=1),
                        last_seen=NOW - timedelta(seconds=seen_ago), stopped_at=stopped_at,
                        seen_seconds_ago=seen_ago)


def test_a_recent_heartbeat_is_running() -> None:
    assert listener_state(None, 2.0) == "running"
    assert listener_state(None, SILENT_AFTER_SECONDS) == "running"


def test_heartbeats_missed_three_times_is_silent() -> None:
    assert SILENT_AFTER_SECONDS == 15.0
    assert listener_state(None, SILENT_AFTER_SECONDS + 0.1) == "silent"


def test_a_graceful_stop_is_stopped_however_recent() -> None:
    assert listener_state(NOW, 0.0) == "stopped"


@pytest.mark.parametrize(("seconds", "said"), [
    (0, "0 s"), (2.7, "2 s"), (59, "59 s"), (60, "1 min"), (250, "4 min 10 s"),
    (3600, "1 h"), (11100, "3 h 5 min"), (86400, "1 d"), (187200, "2 d 4 h"), (-3, "0 s"),
])
def test_durations_read_as_a_person_says_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_what_the_page_says_of_each_listener() -> None:
    assert beat(2.2).summary == "running, last seen 2 s ago"
    assert beat(300).summary == ("not running since 2026-11-28 09:55:00 UTC"
                                 " (no heartbeat for 5 min)")
    stopped = NOW - timedelta(minutes=3)
    assert beat(180, stopped).summary == "not running since 2026-11-28 09:57:00 UTC (stopped)"


def overview(hours: list[Hour], listeners: list[ListenerBeat]) -> Overview:
    return Overview(generated_at=NOW, paused=None, listeners=listeners,
                    queue=QueueDepth(0, 0, 0, 0, None, None), hours=hours)


def test_the_json_counts_running_listeners_and_totals_the_hours() -> None:
    hours = [Hour(NOW - timedelta(hours=1), 10, 2, 1), Hour(NOW, 5, 0, 0)]
    data = overview(hours, [beat(1), beat(100), beat(1, NOW)]).as_json()
    assert data["listeners_running"] == 1
    assert [b["state"] for b in data["listeners"]] == ["running", "silent", "stopped"]
    assert data["activity"] == {
        "hours": 2, "pushes": 15, "failures": 2, "retries": 1,
        "per_hour": [{"hour": "2026-11-28T09:00:00+00:00", "pushes": 10, "failures": 2,
                      "retries": 1},
                     {"hour": "2026-11-28T10:00:00+00:00", "pushes": 5, "failures": 0,
                      "retries": 0}]}
    assert data["account"] == {"state": "ok", "paused": None}
    assert data["queue"]["oldest_seconds"] is None


def test_the_chart_is_described_in_one_sentence() -> None:
    hours = [Hour(NOW - timedelta(hours=1), 10, 2, 1), Hour(NOW, 50, 1, 0)]
    assert describe_activity(overview(hours, [])) == (
        "Over the last 2 hours: 60 pushes and 3 failures. The busiest hour, "
        "2026-11-28 10:00 UTC, had 50 pushes and 1 failure.")
    quiet = [Hour(NOW, 0, 0, 0)]
    assert describe_activity(overview(quiet, [])) == (
        "Over the last 1 hour: 0 pushes and 0 failures; nothing was pushed.")


def test_a_run_count_not_recorded_is_a_dash() -> None:
    assert figure(1234) == "1,234" and figure(0) == "0"
    assert figure(None) == "—" and figure("7") == "—" and figure(True) == "—"


def test_the_window_is_48_utc_hours_ending_with_the_one_under_way() -> None:
    now = datetime(2026, 11, 28, 10, 42, 7, tzinfo=UTC)
    window = hour_window(now)
    assert window.current == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert window.start == datetime(2026, 11, 26, 11, tzinfo=UTC)
    # Rows older than a minute are settled: counted once, then kept.
    assert SETTLE_SECONDS == 60
    assert window.settled == datetime(2026, 11, 28, 10, 41, 7, tzinfo=UTC)
