"""Brevo's /v3/contacts and /v3/contacts/{identifier} endpoints."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brevo_sync.emulator import errors, validation
from brevo_sync.emulator.clock import parse_timestamp
from brevo_sync.emulator.endpoint import (
    config_of,
    json_body,
    no_content,
    query,
    query_list_ids,
    store_of,
)
from brevo_sync.emulator.patches import create_patch, find_by_identifier, locate, update_patch
from brevo_sync.emulator.store import ContactPatch, ContactStore, IdentifierConflict, StoredContact

MAX_PAGE = 1000
_STATISTICS_KEYS = (
    "messagesSent",
    "hardBounces",
    "softBounces",
    "complaints",
    "opened",
    "clicked",
    "transacAttributes",
    "delivered",
)


async def create_contact(request: Request) -> Response:
    store = store_of(request)
    body, _ = await json_body(request)
    patch, update_enabled = create_patch(store, body, unknown=config_of(request).unknown_attributes)
    target = locate(store, patch) if update_enabled else None
    if target is not None:
        _update(store, target, patch)
        return no_content()
    try:
        contact = store.create(patch)
    except IdentifierConflict as conflict:
        raise errors.duplicate_identifiers(conflict.names, creating=True) from conflict
    return JSONResponse({"id": contact.id}, status_code=201)


def _update(store: ContactStore, contact: StoredContact, patch: ContactPatch) -> None:
    try:
        store.update(contact, patch)
    except IdentifierConflict as conflict:
        raise errors.duplicate_identifiers(conflict.names, creating=False) from conflict


def _target(request: Request) -> StoredContact:
    identifier: str = request.path_params["identifier"]
    kind = request.query_params.get("identifierType") or None
    contact = find_by_identifier(store_of(request), identifier, kind)
    if contact is None:
        raise errors.not_found(errors.CONTACT_NOT_FOUND)
    return contact


async def get_contact(request: Request) -> Response:
    contact = _target(request)
    body = contact.as_json()
    statistics: dict[str, Any] = {key: [] for key in _STATISTICS_KEYS}
    statistics["unsubscriptions"] = {
        "userUnsubscription": [dict(item) for item in contact.user_unsubscriptions],
        "adminUnsubscription": [],
    }
    body["statistics"] = statistics
    return JSONResponse(body)


async def update_contact(request: Request) -> Response:
    contact = _target(request)
    store = store_of(request)
    body, _ = await json_body(request)
    patch = update_patch(store, body, unknown=config_of(request).unknown_attributes)
    _update(store, contact, patch)
    return no_content()


async def delete_contact(request: Request) -> Response:
    store_of(request).delete(_target(request))
    return no_content()


async def list_contacts(request: Request) -> Response:
    params = query(request)
    if params.get("segmentId") and params.get("listIds"):
        raise errors.invalid("Either listIds or segmentId can be passed")
    contacts, total = store_of(request).query(
        offset=validation.query_int(params, "offset", 0),
        limit=validation.query_int(params, "limit", 50, maximum=MAX_PAGE),
        sort=validation.query_sort(params),
        modified_since=since(params, "modifiedSince"),
        created_since=since(params, "createdSince"),
        list_ids=query_list_ids(request),
    )
    return JSONResponse({"contacts": [item.as_json() for item in contacts], "count": total})


def since(params: dict[str, str], name: str) -> int | None:
    text = params.get(name)
    if not text:
        return None
    millis = parse_timestamp(text)
    if millis is None:
        raise errors.invalid(f"{name} is not a valid date-time (YYYY-MM-DDTHH:mm:ss.SSSZ)")
    return millis
