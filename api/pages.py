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

from api.admin import connection, mirror_age, read_page, sync_status, totals_of
from api.errors import ApiError
from brevo_sync import history
from brevo_sync.pause import Refusal, read_refusal
from brevo_sync.views import (
    PER_PAGE_CHOICES,
    SORTS,
    VIEWS,
    UnknownView,
    ViewError,
    ViewQuery,
    parse_view_query,
)

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


def ago(seconds: float | None) -> str:
    """An age as a reader says it: "just now", "3 min ago", "2 h ago", "4 days ago"."""
    if seconds is None:
        return "never"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days > 1 else ''} ago"


templates.env.filters["when"] = when
templates.env.filters["ago"] = ago


VIEW_LABELS = {"neon": "Neon", "brevo": "Brevo", "matched": "Matched", "unmatched": "Unmatched"}
SORT_LABELS = {
    "email": "Email", "name": "Name", "created": "Created", "opt_in": "Opt-in",
    "status": "Status", "in_brevo": "In Brevo", "last_synced": "Last synced",
    "modified": "Modified", "id": "ID",
}
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
    summary = await sync_status(request)  # the status card and Sync All, on every view
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
        "sort_labels": SORT_LABELS,
        "per_page_choices": sorted({*PER_PAGE_CHOICES, query.per_page}),
        "mirror": await mirror_age(request),
        "link": _linker(query if page is None else page.query),
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
    """The admin's landing page is the overview (api/overview.py)."""
    return RedirectResponse("/admin", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/admin/clients", clients_page, methods=["GET"]),
    Route("/admindash/amy/hapio", clients_page, methods=["GET"]),
    Route("/admin/history", history_page, methods=["GET"]),
]
