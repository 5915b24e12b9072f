"""The admin JSON API: the views, push one customer, sync all, refresh, history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.actions import Actions
from api.body import json_object
from api.errors import ApiError
from api.list_names import ListNames
from api.sweep_answer import sweep_response
from api.totals import Totals
from brevo_sync import history
from brevo_sync.config import Settings
from brevo_sync.db import Conn, Pool
from brevo_sync.pause import read_refusal
from brevo_sync.reconcile import SweepResult
from brevo_sync.views import (
    UnknownView,
    ViewError,
    ViewPage,
    ViewQuery,
    customer_exists,
    mirror_read_at,
    parse_view_query,
    read_one_customer,
    read_view,
    running_sweep,
    single_pass,
)

POOL_WAIT_SECONDS = 5.0
# The Brevo view reads Brevo again (incrementally) when its mirror was read longer ago.
MIRROR_STALE_SECONDS = 180.0

# --- plumbing ------------------------------------------------------------------------------


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[Conn]:
    pool: Pool = request.app.state.pool
    async with pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
        yield conn


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def actions_of(request: Request) -> Actions:
    actions: Actions = request.app.state.actions
    return actions


def totals_of(request: Request) -> Totals:
    totals: Totals = request.app.state.totals
    return totals


def list_names_of(request: Request) -> ListNames:
    """Made on first use: most requests never need Brevo's list names."""
    state = request.app.state
    if getattr(state, "list_names", None) is None:
        state.list_names = ListNames(state.brevo)
    names: ListNames = state.list_names
    return names


def customer_id_of(request: Request) -> UUID:
    raw = request.path_params["id"]
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(400, "the customer id must be a UUID") from None


def _bad_query(exc: ViewError) -> ApiError:
    return ApiError(404 if isinstance(exc, UnknownView) else 400, str(exc))


# --- JSON ----------------------------------------------------------------------------------


async def views_index(request: Request) -> Response:
    return JSONResponse({"counts": await totals_of(request).counts()})


async def view_json(request: Request) -> Response:
    try:
        query = parse_view_query(request.path_params["view"], request.query_params)
    except ViewError as exc:
        raise _bad_query(exc) from None
    return JSONResponse((await read_page(request, query)).as_json())


async def read_page(request: Request, query: ViewQuery) -> ViewPage:
    """A view's page, its total taken from the shared totals when it has no search."""
    settings = settings_of(request)
    total = None if single_pass(query) else (await totals_of(request).counts())[query.view]
    try:
        async with connection(request) as conn:
            page = await read_view(
                conn,
                query,
                total=total,
                phone_region=settings.phone_default_region,
                list_id=settings.brevo_list_id,
            )
    except ViewError as exc:
        raise _bad_query(exc) from None
    if query.view == "brevo":
        for row in page.rows:  # Brevo is asked for names only when some list is shown
            row["lists"] = (await list_names_of(request).label(row["list_ids"])
                            if row["list_ids"] else [])
    return page


async def mirror_age(request: Request) -> dict[str, Any]:
    """When the mirror of Brevo was last read, and whether the page should read it again."""
    async with connection(request) as conn:
        read_at, now = await mirror_read_at(conn)
    age = None if read_at is None else max(0.0, (now - read_at).total_seconds())
    return {
        "read_at": read_at.isoformat() if read_at else None,
        "age_seconds": age,
        "stale": age is None or age > MIRROR_STALE_SECONDS,
        "stale_after_seconds": MIRROR_STALE_SECONDS,
    }


async def summary_json(request: Request) -> Response:
    """What every view's header shows: the tabs' counts, the status card, the mirror's age."""
    return JSONResponse({
        "counts": await totals_of(request).counts(),
        "status": await sync_status(request),
        "mirror": await mirror_age(request),
    })


async def customer_json(request: Request) -> Response:
    customer_id = customer_id_of(request)
    row = await _customer_row(request, customer_id)
    if row is None:
        raise ApiError(404, "no customer has this id")
    return JSONResponse(row)


async def push_customer(request: Request) -> Response:
    customer_id = customer_id_of(request)
    await json_object(request)  # takes no settings, but a body must still be JSON and small
    async with connection(request) as conn:
        if not await customer_exists(conn, customer_id):
            raise ApiError(404, "no customer has this id")
    outcome = await actions_of(request).push(customer_id)
    totals_of(request).clear()
    if outcome is None:
        raise ApiError(
            409, "another worker is pushing this customer right now; try again in a moment"
        )
    return JSONResponse({**outcome.as_json(), "row": await _customer_row(request, customer_id)})


async def _customer_row(request: Request, customer_id: UUID) -> dict[str, Any] | None:
    settings = settings_of(request)
    async with connection(request) as conn:
        return await read_one_customer(
            conn,
            customer_id,
            phone_region=settings.phone_default_region,
            list_id=settings.brevo_list_id,
        )


async def sync_all_status(request: Request) -> Response:
    return JSONResponse(await sync_status(request))


async def sync_status(request: Request) -> dict[str, Any]:
    figures = await totals_of(request).figures()
    async with connection(request) as conn:
        refusal = await read_refusal(conn)
        return {**figures, "running": await running_sweep(conn),
                "paused": refusal.as_json() if refusal else None}


async def sync_all_run(request: Request) -> Response:
    body = await json_object(request)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ApiError(400, "dry_run must be true or false")
    if dry_run:
        return await sync_all_plan(request)
    settings = settings_of(request)
    budget = body.get("budget", settings.reconcile_budget_seconds)
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not 1 <= budget <= settings.reconcile_budget_seconds
    ):
        raise ApiError(
            400,
            "budget must be a number of seconds between 1 and "
            f"{settings.reconcile_budget_seconds:g}",
        )
    try:
        result = await actions_of(request).sync_all(float(budget))
    finally:
        totals_of(request).clear()
    return sweep_response(result)


async def sync_all_plan(request: Request) -> Response:
    """What Sync All would change (brevo_sync/plan.py), with nothing changed."""
    try:
        planned = await actions_of(request).plan()
    finally:
        totals_of(request).clear()  # the mirror was refreshed: Matched and Unmatched move
    if isinstance(planned, SweepResult):
        return sweep_response(planned)
    return JSONResponse(planned.as_json())


async def refresh_brevo(request: Request) -> Response:
    body = await json_object(request)
    full = body.get("full", False)
    if not isinstance(full, bool):
        raise ApiError(400, "full must be true or false")
    try:
        return JSONResponse(await actions_of(request).refresh_mirror(full))
    finally:
        totals_of(request).clear()
        list_names_of(request).clear()  # names changed in Brevo show after a refresh


async def history_json(request: Request) -> Response:
    try:
        query = history.parse_history_query(request.query_params)
    except ViewError as exc:
        raise ApiError(400, str(exc)) from None
    async with connection(request) as conn:
        return JSONResponse((await history.read_history(conn, query)).as_json())


ROUTES: list[BaseRoute] = [
    Route("/api/admin/views", views_index, methods=["GET"]),
    Route("/api/admin/summary", summary_json, methods=["GET"]),
    Route("/api/admin/views/{view}", view_json, methods=["GET"]),
    Route("/api/admin/customers/sync-all", sync_all_status, methods=["GET"]),
    Route("/api/admin/customers/sync-all", sync_all_run, methods=["POST"]),
    Route("/api/admin/customers/{id}", customer_json, methods=["GET"]),
    Route("/api/admin/customers/{id}/push", push_customer, methods=["POST"]),
    Route("/api/admin/history", history_json, methods=["GET"]),
    Route("/api/admin/brevo/refresh", refresh_brevo, methods=["POST"]),
]
