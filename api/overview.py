"""The overview: the admin's landing page (/admin) and the same figures as JSON
(`GET /api/admin/overview`, shape in brevo_sync/overview.py). Both need the admin's
credentials (api/auth.py guards every path that is not public)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.admin import connection
from api.chart import Series, hourly_bars
from api.pages import templates
from brevo_sync.overview import SILENT_AFTER_SECONDS, Overview, duration, read_overview, stamp

PUSHES_COLOR = "#0b6bcb"
FAILURES_COLOR = "#c62828"


async def overview_json(request: Request) -> Response:
    async with connection(request) as conn:
        overview = await read_overview(conn)
    return JSONResponse(overview.as_json())


async def overview_page(request: Request) -> Response:
    async with connection(request) as conn:
        overview = await read_overview(conn)
    context = {
        "overview": overview,
        "totals": overview.totals(),
        "chart": activity_chart(overview),
        "duration": duration,
        "figure": figure,
        "stamp": stamp,
        "silent_after": SILENT_AFTER_SECONDS,
        "notice": getattr(request.app.state, "notice", None),
        "paused": overview.paused,
        "error": None,
        "active": "overview",
    }
    return templates.TemplateResponse(request, "overview.html", context)


def figure(value: object) -> str:
    """A count from a run's counts, or a dash when the run did not record it."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "—"


def activity_chart(overview: Overview) -> Any:
    hours = [h.hour for h in overview.hours]
    return hourly_bars(
        hours,
        [Series("pushes", "Pushes", PUSHES_COLOR, [h.pushes for h in overview.hours]),
         Series("failures", "Failures", FAILURES_COLOR, [h.failures for h in overview.hours])],
        title=f"Pushes and failures per hour, last {len(hours)} hours (UTC)",
        description=describe_activity(overview),
        chart_id="activity-chart",
    )


def describe_activity(overview: Overview) -> str:
    """The chart in one sentence: totals, and the busiest hour."""
    totals = overview.totals()
    text = (f"Over the last {plural(len(overview.hours), 'hour')}: "
            f"{plural(totals['pushes'], 'push')} and {plural(totals['failures'], 'failure')}")
    busiest = max(overview.hours, key=lambda h: h.pushes + h.failures, default=None)
    if busiest is None or busiest.pushes + busiest.failures == 0:
        return text + "; nothing was pushed."
    return (text + f". The busiest hour, {busiest.hour.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
            f"had {plural(busiest.pushes, 'push')} and {plural(busiest.failures, 'failure')}.")


def plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n:,} {word}{'es' if word.endswith('sh') else 's'}"


ROUTES: list[BaseRoute] = [
    Route("/admin", overview_page, methods=["GET"]),
    Route("/api/admin/overview", overview_json, methods=["GET"]),
]
