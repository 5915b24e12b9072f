"""POST /api/webhooks/brevo: Brevo's marketing webhooks (unsubscribed, spam, hardBounce,
listAddition, contactUpdated, contactDeleted), one event or a batched array.

Server to server: `Authorization: Bearer $BREVO_WEBHOOK_SECRET`, compared in constant time, is
the whole authentication (Brevo sends no Origin; api/auth.py leaves the path to this route),
and with the secret unset every call is refused (fail closed). The header is never logged.

Answers: 200 with what the delivery did (also for emails no customer has, and for events
already received: Brevo retries anything else); 400 for a body that is not an event or an
array of them (an array's unreadable events are listed under `rejected`, the rest applied);
401 without the bearer; 413 past 1 MB; 503 when the database cannot take it now (Brevo retries).
The answer never waits on Brevo: contacts to read again are read after it is sent.
"""

from __future__ import annotations

import json

import structlog
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from structlog.contextvars import bound_contextvars

from api.auth import bearer_matches
from api.body import read_limited, too_deep
from api.errors import ApiError
from brevo_sync.config import Settings
from brevo_sync.webhook_events import BadEvent, parse_delivery
from brevo_sync.webhooks import SOURCE, apply_events, refresh_contacts

log = structlog.get_logger("api.webhooks")

WEBHOOK_PATH = "/api/webhooks/brevo"
MAX_BODY_BYTES = 1_048_576
MAX_DEPTH = 32
_NO_STORE = {"cache-control": "no-store"}


async def brevo_webhook(request: Request) -> Response:
    # Every line a delivery logs says it came from Brevo's webhook (the refresh after the
    # answer binds it again: brevo_sync/webhooks.py).
    with bound_contextvars(source=SOURCE):
        return await _delivery(request)


async def _delivery(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not bearer_matches(request.headers.get("authorization"), settings.webhook_secret):
        log.warning("webhook_refused", path=request.url.path,
                    reason="BREVO_WEBHOOK_SECRET is not set" if not settings.webhook_secret
                    else "missing or wrong bearer token")
        return JSONResponse({"error": "unauthorized"}, status_code=401,
                            headers={"www-authenticate": "Bearer", **_NO_STORE})
    body = await read_limited(request, MAX_BODY_BYTES)
    data = _json(body)
    try:
        events, rejected, ignored = parse_delivery(data)
    except BadEvent as exc:
        raise ApiError(400, str(exc)) from None
    if not events and rejected:
        raise ApiError(400, "no event in the delivery could be read", rejected=rejected[:20])
    applied = await apply_events(request.app.state.pool, events, list_id=settings.brevo_list_id)
    counts = applied.as_json()
    if ignored:
        counts["ignored"] = counts.get("ignored", 0) + ignored
    answer = {"received": len(data) if isinstance(data, list) else 1, **counts,
              "rejected": rejected[:20]}
    task = None
    if applied.refresh:
        task = BackgroundTask(refresh_contacts, request.app.state.pool, request.app.state.brevo,
                              applied.refresh, names=settings.attribute_names)
    return JSONResponse(answer, headers=_NO_STORE, background=task)


def _json(body: bytes) -> object:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not valid JSON (UTF-8)") from None
    if not text.strip():
        raise ApiError(400, "the request body is empty: expected an event or an array of them")
    if too_deep(text, MAX_DEPTH):
        raise ApiError(400, f"the request body is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None


webhook_route = Route(WEBHOOK_PATH, brevo_webhook, methods=["POST"])
