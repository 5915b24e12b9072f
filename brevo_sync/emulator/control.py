"""The emulator's own endpoints (outside /v3), for tests in another process.

With a key configured (`fake-brevo --api-key`), /_emulator/* asks for it in the `api-key`
header as /v3 does: these routes read and rewrite the whole account. Without one they are
open, as /v3 then accepts any key. /healthz is always open, for probes. No answer ever shows
the configured key.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brevo_sync.emulator.config import EmulatorConfig
from brevo_sync.emulator.endpoint import config_of, store_of
from brevo_sync.emulator.errors import EmulatedError as EmulatorError
from brevo_sync.emulator.patches import create_patch
from brevo_sync.emulator.store import IdentifierConflict, StoredContact
from brevo_sync.emulator.webhooks import Webhooks


def webhooks_of(request: Request) -> Webhooks:
    hooks: Webhooks = request.app.state.webhooks
    return hooks


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def contacts(request: Request) -> Response:
    store = store_of(request)
    return JSONResponse({"contacts": store.contacts(), "count": store.count()})


async def calls(request: Request) -> Response:
    counted = request.app.state.calls
    rows = [
        {"method": method, "path": path, "status": status, "count": count}
        for (method, path, status), count in sorted(counted.items())
    ]
    return JSONResponse({"calls": rows, "total": sum(counted.values())})


async def add_contacts(request: Request) -> Response:
    """Contacts put straight into the account, the way another Brevo account holds its own
    people: ids continue the account's sequence, so they collide with ids a database stored
    from another account. `{"contacts": [<POST /contacts body>, ...]}`; not counted as calls."""
    store = store_of(request)
    try:
        body = json.loads(await request.body() or b"{}")
        items = body.get("contacts") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError("expected {\"contacts\": [objects]}")
        patches = [create_patch(store, item, unknown=config_of(request).unknown_attributes)[0]
                   for item in items]
        ids = [store.create(patch).id for patch in patches]
    except (ValueError, EmulatorError, IdentifierConflict) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"ids": ids}, status_code=201)


def shown_config(config: EmulatorConfig) -> dict[str, Any]:
    """The settings without the key itself: only whether one is set."""
    shown = config.as_dict()
    shown["api_key"] = "**********" if config.api_key is not None else None
    return shown


async def get_config(request: Request) -> Response:
    return JSONResponse(shown_config(config_of(request)))


async def patch_config(request: Request) -> Response:
    config: EmulatorConfig = config_of(request)
    try:
        patch = json.loads(await request.body() or b"{}")
        if not isinstance(patch, dict):
            raise ValueError("expected a JSON object of settings")
        config.apply_patch(patch)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(shown_config(config))


async def reset(request: Request) -> Response:
    """Empty the account; `?attributes=true` also forgets attributes created since start."""
    with_attributes = request.query_params.get("attributes", "").lower() in ("1", "true", "yes")
    state = request.app.state
    state.store.reset(attributes=with_attributes, language=state.config.account_language)
    state.calls.clear()
    state.limiter.reset()
    state.faults.reset(state.config)
    state.webhooks.reset()
    return JSONResponse({"reset": True})


def _contact_or_none(request: Request) -> StoredContact | None:
    text = request.path_params["contact_id"]
    return store_of(request).get(int(text)) if text.isdigit() else None


async def blocklist(request: Request) -> Response:
    """As if the contact unsubscribed in Brevo: blocklisted for email, modifiedAt bumped."""
    contact = _contact_or_none(request)
    if contact is None:
        return JSONResponse({"error": "contact not found"}, status_code=404)
    contact.email_blacklisted = True
    store_of(request).touch(contact)
    webhooks_of(request).emit("unsubscribed", contact, None)
    body: dict[str, Any] = contact.as_json()
    return JSONResponse(body)


async def unsubscribe(request: Request) -> Response:
    """As if the person unsubscribed with a campaign's link: body `{"listId": n}` leaves that
    list only (needs `list_unsubscription` on), `{}` blocklists; either way Brevo records it
    in the contact's statistics as the person's own unsubscription."""
    contact = _contact_or_none(request)
    if contact is None:
        return JSONResponse({"error": "contact not found"}, status_code=404)
    body = json.loads(await request.body() or b"{}")
    list_id = body.get("listId") if isinstance(body, dict) else None
    campaign_id = body.get("campaignId", 1) if isinstance(body, dict) else 1
    store = store_of(request)
    if list_id is not None:
        if not config_of(request).list_unsubscription:
            return JSONResponse({"error": "per-list unsubscription is off (list_unsubscription)"},
                                status_code=400)
        if not isinstance(list_id, int) or store.get_list(list_id) is None:
            return JSONResponse({"error": "no such list"}, status_code=404)
    store.unsubscribe(contact, list_id, int(campaign_id))
    webhooks_of(request).emit("unsubscribed", contact, None, camp_id=int(campaign_id),
                              list_ids=[list_id] if list_id is not None else None)
    return JSONResponse(contact.as_json())


async def hard_bounce(request: Request) -> Response:
    """As if a campaign to the contact bounced hard: the webhook says so (the contact's own
    state is left as it is)."""
    contact = _contact_or_none(request)
    if contact is None:
        return JSONResponse({"error": "contact not found"}, status_code=404)
    webhooks_of(request).emit("hardBounce", contact, None,
                              reason="550 5.1.1 mailbox does not exist")
    return JSONResponse(contact.as_json())


async def update_contact(request: Request) -> Response:
    """As if someone edited the contact in Brevo's web interface: body
    `{"attributes": {...}}` (merged), not counted as a call."""
    contact = _contact_or_none(request)
    if contact is None:
        return JSONResponse({"error": "contact not found"}, status_code=404)
    body = json.loads(await request.body() or b"{}")
    attributes = body.get("attributes") if isinstance(body, dict) else None
    if not isinstance(attributes, dict):
        return JSONResponse({"error": "expected {\"attributes\": {...}}"}, status_code=400)
    contact.attributes.update(attributes)
    store_of(request).touch(contact)
    webhooks_of(request).emit("contactUpdated", contact, None, content=attributes)
    return JSONResponse(contact.as_json())


async def deliveries(request: Request) -> Response:
    """Every webhook delivery attempted: the webhook, the events, the status or error."""
    rows = [{"webhook": d.webhook_id, "events": d.events, "status": d.status, "error": d.error}
            for d in webhooks_of(request).deliveries]
    return JSONResponse({"deliveries": rows})


async def delete_contact(request: Request) -> Response:
    """As if someone deleted the contact in Brevo's web interface."""
    contact = _contact_or_none(request)
    if contact is None:
        return JSONResponse({"error": "contact not found"}, status_code=404)
    email = contact.email
    store_of(request).delete(contact)
    webhooks_of(request).emit("contactDeleted", None, email)
    return Response(status_code=204)


Endpoint = Callable[[Request], Awaitable[Response]]


def key_refusal(request: Request) -> Response | None:
    """Brevo's 401 when a key is configured and the request does not carry it."""
    expected = config_of(request).api_key
    if expected is None:
        return None
    sent = request.headers.get("api-key")
    if not sent:
        message = {"message": "authentication not found in headers", "code": "unauthorized"}
        return JSONResponse(message, status_code=401)
    # Latin-1 gives back the header's bytes as sent.
    if not hmac.compare_digest(sent.encode("latin-1"), expected.encode()):
        return JSONResponse({"code": "unauthorized", "message": "Key not found"}, 401)
    return None


def keyed(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        return key_refusal(request) or await endpoint(request)

    return guarded


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/_emulator/contacts", keyed(contacts), methods=["GET"]),
    Route("/_emulator/contacts", keyed(add_contacts), methods=["POST"]),
    Route("/_emulator/calls", keyed(calls), methods=["GET"]),
    Route("/_emulator/config", keyed(get_config), methods=["GET"]),
    Route("/_emulator/config", keyed(patch_config), methods=["PATCH"]),
    Route("/_emulator/reset", keyed(reset), methods=["POST"]),
    Route("/_emulator/contacts/{contact_id}/blocklist", keyed(blocklist), methods=["POST"]),
    Route("/_emulator/contacts/{contact_id}/unsubscribe", keyed(unsubscribe), methods=["POST"]),
    Route("/_emulator/contacts/{contact_id}/hard-bounce", keyed(hard_bounce), methods=["POST"]),
    Route("/_emulator/contacts/{contact_id}/update", keyed(update_contact), methods=["POST"]),
    Route("/_emulator/contacts/{contact_id}", keyed(delete_contact), methods=["DELETE"]),
    Route("/_emulator/webhooks/deliveries", keyed(deliveries), methods=["GET"]),
]
