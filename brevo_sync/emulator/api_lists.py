"""Brevo's lists, list membership and folders under /v3/contacts/lists and /v3/contacts/folders."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brevo_sync.emulator import errors, validation
from brevo_sync.emulator.api_contacts import since
from brevo_sync.emulator.clock import format_millis
from brevo_sync.emulator.endpoint import json_body, no_content, path_int, query, store_of
from brevo_sync.emulator.store import ContactList, ContactStore, StoredContact

MAX_MEMBERSHIP_ITEMS = 150
MAX_LIST_PAGE = 500
FOLDER_NOT_FOUND = "Folder ID does not exist"
# Which identifier each membership key carries, and the Python type its items must have.
_MEMBERSHIP_KEYS: dict[str, type] = {"emails": str, "ids": int, "extIds": str}


def _list_or_404(request: Request) -> ContactList:
    list_id = path_int(request, "listId", errors.LIST_NOT_FOUND)
    contact_list = store_of(request).get_list(list_id)
    if contact_list is None:
        raise errors.not_found(errors.LIST_NOT_FOUND)
    return contact_list


def _small_page(request: Request) -> tuple[int, int, str]:
    params = query(request)
    return (
        validation.query_int(params, "offset", 0),
        validation.query_int(params, "limit", 10, maximum=50),
        validation.query_sort(params),
    )


def _paged(items: list[Any], offset: int, limit: int, sort: str) -> list[Any]:
    ordered = items if sort == "asc" else items[::-1]
    return ordered[offset : offset + limit]


async def get_lists(request: Request) -> Response:
    store = store_of(request)
    offset, limit, sort = _small_page(request)
    lists = store.all_lists()
    page = [store.list_json(item) for item in _paged(lists, offset, limit, sort)]
    return JSONResponse({"lists": page, "count": len(lists)})


async def create_list(request: Request) -> Response:
    store = store_of(request)
    body, _ = await json_body(request)
    name, folder_id = body.get("name"), body.get("folderId")
    if not isinstance(name, str) or not name.strip():
        raise errors.missing("name is required")
    if not validation.is_int(folder_id):
        raise errors.missing("folderId is required")
    if store.get_folder(folder_id) is None:
        raise errors.EmulatedError(400, "document_not_found", FOLDER_NOT_FOUND)
    return JSONResponse({"id": store.create_list(name, folder_id).id}, status_code=201)


async def get_list(request: Request) -> Response:
    contact_list = _list_or_404(request)
    body = store_of(request).list_json(contact_list)
    body.update(
        createdAt=format_millis(contact_list.created_ms), dynamicList=False, campaignStats=[]
    )
    return JSONResponse(body)


async def update_list(request: Request) -> Response:
    contact_list = _list_or_404(request)
    body, _ = await json_body(request)
    if isinstance(body.get("name"), str) and body["name"].strip():
        contact_list.name = body["name"]
    if validation.is_int(body.get("folderId")):
        if store_of(request).get_folder(body["folderId"]) is None:
            raise errors.not_found(FOLDER_NOT_FOUND)
        contact_list.folder_id = body["folderId"]
    return no_content()


async def delete_list(request: Request) -> Response:
    store_of(request).delete_list(_list_or_404(request))
    return no_content()


async def get_list_contacts(request: Request) -> Response:
    contact_list = _list_or_404(request)
    params = query(request)
    contacts, total = store_of(request).query(
        offset=validation.query_int(params, "offset", 0),
        limit=validation.query_int(params, "limit", 50, maximum=MAX_LIST_PAGE),
        sort=validation.query_sort(params),
        modified_since=since(params, "modifiedSince"),
        list_ids=[contact_list.id],
    )
    return JSONResponse({"contacts": [item.as_json() for item in contacts], "count": total})


def _membership_items(body: dict[str, Any]) -> tuple[str, list[Any]]:
    """The one key among emails/ids/extIds and its 1..150 items."""
    keys = [key for key in _MEMBERSHIP_KEYS if body.get(key) is not None]
    if not keys:
        raise errors.missing("One of emails, ids or extIds is required")
    if len(keys) > 1:
        raise errors.invalid("Only one of emails, ids or extIds can be passed")
    key = keys[0]
    items = body[key]
    kind = _MEMBERSHIP_KEYS[key]
    if not isinstance(items, list) or not all(
        isinstance(item, kind) and not isinstance(item, bool) for item in items
    ):
        raise errors.invalid(f"{key} should be an array of {kind.__name__}")
    if not items:
        raise errors.missing(f"{key} should contain at least one item")
    if len(items) > MAX_MEMBERSHIP_ITEMS:
        raise errors.EmulatedError(
            400,
            "out_of_range",
            f"You can pass a maximum of {MAX_MEMBERSHIP_ITEMS} {key} in one request",
        )
    return key, items


def _member(store: ContactStore, key: str, item: Any) -> StoredContact | None:
    if key == "ids":
        return store.get(item)
    if key == "emails":
        return store.find("email", item.strip().lower())
    return store.find("EXT_ID", item)


async def add_to_list(request: Request) -> Response:
    contact_list = _list_or_404(request)
    store = store_of(request)
    body, _ = await json_body(request)
    key, items = _membership_items(body)
    success, failure = [], []
    for item in items:
        contact = _member(store, key, item)
        if contact is None:
            failure.append(item)
        elif store.link(contact, contact_list.id):
            store.touch(contact)
            success.append(item)
    if not success:
        raise errors.invalid(errors.ALREADY_IN_LIST)
    return JSONResponse({"contacts": {"success": success, "failure": failure}}, status_code=201)


async def remove_from_list(request: Request) -> Response:
    contact_list = _list_or_404(request)
    store = store_of(request)
    body, _ = await json_body(request)
    if body.get("all") is True and not any(body.get(key) for key in _MEMBERSHIP_KEYS):
        return _remove_all(store, contact_list)
    key, items = _membership_items(body)
    success, failure = [], []
    for item in items:
        contact = _member(store, key, item)
        if contact is None:
            failure.append(item)
        elif store.unlink(contact, contact_list.id):
            store.touch(contact)
            success.append(item)
    if not success:
        raise errors.invalid(errors.ALREADY_REMOVED)
    return JSONResponse({"contacts": {"success": success, "failure": failure}}, status_code=201)


def _remove_all(store: ContactStore, contact_list: ContactList) -> Response:
    """Brevo runs this as a process; here it is immediate and the process id is only a number."""
    members = [store.get(contact_id) for contact_id in sorted(contact_list.members)]
    if not members:
        raise errors.invalid(errors.ALL_ALREADY_REMOVED)
    for contact in members:
        if contact is not None:
            store.unlink(contact, contact_list.id)
            store.touch(contact)
    total = len(members)
    process_id = store.processes.allocate_id()
    return JSONResponse({"contacts": {"total": total, "processId": process_id}}, status_code=201)
