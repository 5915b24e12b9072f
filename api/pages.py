"""The admin pages: the Clients Manager (four views, actions) and the sync history.

Rendered on the server with Jinja2 (autoescaped); public/static/admin.js adds the buttons.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from api.admin import connection, read_page, sync_status, totals_of
from api.errors import ApiError
from brevo_sync import history
from brevo_sync.pause import Refusal, read_refusal
from brevo_sync.views import SORTS, VIEWS, UnknownView, ViewError, ViewQuery, parse_view_query

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
)


def when(value: str | None) -> str:
    """An ISO timestamp as the page shows it (UTC, to the minute)."""
    if not value:
        return "never"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["when"] = when


VIEW_LABELS = {"neon": "Neon", "brevo": "Brevo", "matched": "Matched", "unmatched": "Unmatched"}
VIEW_HINTS = {
    "neon": "Every customer in the database.",
    "brevo": "Every contact in the mirror of Brevo; those no customer owns are marked.",
    "matched": "Customers Brevo holds, with their sync status and the fields that differ.",
    "unmatched": "Opted-in customers that Brevo does not hold yet.",
}


async def clients_page(request: Request) -> Response:
    params = request.query_params
    view = params.get("view") or "neon"
    error, status = None, 200
    try:
        query = parse_view_query(view, params)
    except ViewError as exc:
        error, status = str(exc), (404 if isinstance(exc, UnknownView) else 400)
        query = ViewQuery(view=view if view in VIEWS else "neon")
    counts = await totals_of(request).counts()
    page = None
    if error is None:
        try:
            page = await read_page(request, query)
        except ApiError as exc:
            error, status = exc.message, exc.status
    summary = await sync_status(request) if query.view == "unmatched" else None
    context = {
        "query": query,
        "page": page,
        "counts": counts,
        "summary": summary,
        "error": error,
        "views": VIEWS,
        "labels": VIEW_LABELS,
        "hint": VIEW_HINTS[query.view],
        "sorts": SORTS[query.view],
        "link": _linker(query),
        "notice": _notice(request),
        "paused": await _paused(request),
        "active": "clients",
    }
    return templates.TemplateResponse(request, "clients.html", context, status_code=status)


async def history_page(request: Request) -> Response:
    error, status = None, 200
    try:
        query = history.parse_history_query(request.query_params)
    except ViewError as exc:
        error, status, query = str(exc), 400, history.HistoryQuery()
    async with connection(request) as conn:
        page = None if error else await history.read_history(conn, query)
    filters = {
        key: request.query_params.get(key, "")
        for key in ("customer", "outcome", "action", "source")
    }
    context = {
        "page": page,
        "query": query,
        "error": error,
        "filters": filters,
        "outcomes": history.OUTCOMES,
        "sources": history.SOURCES,
        "actions": history.ACTIONS,
        "history_link": _history_linker(filters),
        "notice": _notice(request),
        "paused": await _paused(request),
        "active": "history",
    }
    return templates.TemplateResponse(request, "history.html", context, status_code=status)


def _linker(query: ViewQuery) -> Any:
    def link(**changes: Any) -> str:
        params = query.as_params()
        if "view" in changes:  # a new tab starts over, keeping only the search
            params = {"view": changes["view"], **({"q": query.search} if query.search else {})}
        params.update({k: str(v) for k, v in changes.items() if v is not None})
        if changes.get("q") == "":
            params.pop("q", None)
        return "/admin/clients?" + urlencode(params)

    return link


def _history_linker(filters: dict[str, str]) -> Any:
    def link(**changes: Any) -> str:
        params = {k: v for k, v in {**filters, **changes}.items() if v not in (None, "")}
        return "/admin/history?" + urlencode(params)

    return link


def _notice(request: Request) -> str | None:
    notice: str | None = getattr(request.app.state, "notice", None)
    return notice


async def _paused(request: Request) -> Refusal | None:
    async with connection(request) as conn:
        return await read_refusal(conn)


async def home(request: Request) -> Response:
    return RedirectResponse("/admin/clients", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/admin", home, methods=["GET"]),
    Route("/admin/clients", clients_page, methods=["GET"]),
    Route("/admindash/amy/hapio", clients_page, methods=["GET"]),
    Route("/admin/history", history_page, methods=["GET"]),
]
