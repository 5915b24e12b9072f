"""POST /contacts/import: parse at submission, apply when the modelled process completes.

Bad rows never fail an import: invalid emails and duplicate identifiers are counted in
`info.import`, rows with an invalid phone number are skipped (Brevo has no counter for them).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from brevo_sync.emulator import errors, validation
from brevo_sync.emulator.config import EmulatorConfig
from brevo_sync.emulator.patches import locate, require_lists_exist, split_attributes
from brevo_sync.emulator.processes import Process
from brevo_sync.emulator.store import ContactPatch, ContactStore

MAX_BODY_BYTES = 10 * 1024 * 1024
_DUPLICATE_COUNTERS = {
    "email": "duplicate_email_id",
    "SMS": "duplicate_phone_id",
    "WHATSAPP": "duplicate_whatsapp_id",
    "LANDLINE_NUMBER": "duplicate_landline_number_id",
    "EXT_ID": "duplicate_ext_id",
}


@dataclass
class ImportOptions:
    list_ids: list[int]
    update_existing: bool
    empty_attributes: bool
    email_blacklist: bool
    sms_blacklist: bool


# One row as given: attribute names (EMAIL included) to raw values.
Row = dict[str, Any]


def submit_import(
    store: ContactStore, body: dict[str, Any], config: EmulatorConfig, *, body_bytes: int
) -> Process:
    if body_bytes > MAX_BODY_BYTES:
        raise errors.invalid("Maximum allowed body size is 10MB, please use fileUrl instead")
    rows = _rows(body)
    options = _options(store, body)
    duration_ms = config.import_base_ms + len(rows) * config.import_ms_per_contact

    false_keeps_true = config.import_false_keeps_true
    report_urls = config.process_info == "reports"

    def job(at_ms: int) -> dict[str, Any]:
        counters = apply_rows(store, rows, options, at_ms, false_keeps_true=false_keeps_true)
        if report_urls:
            return {"import": _report_urls(counters)}
        return {"import": counters}

    return store.processes.submit("IMPORTUSER", duration_ms / 1000, job,
                                  queued_seconds=config.import_queue_seconds,
                                  ends=config.import_outcome)


def _report_urls(counters: dict[str, int]) -> dict[str, str | None]:
    """Brevo's newer definition: a CSV report's URL for each non-empty counter, else null."""
    return {name: (f"https://brevo-emulator.invalid/reports/{name}.csv" if count else None)
            for name, count in counters.items()}


def _rows(body: dict[str, Any]) -> list[Row]:
    sources = [key for key in ("jsonBody", "fileBody", "fileUrl") if body.get(key) is not None]
    if not sources:
        raise errors.missing("One of fileUrl, fileBody or jsonBody is required")
    if len(sources) > 1:
        raise errors.invalid("Only one of fileUrl, fileBody or jsonBody can be passed")
    if sources[0] == "fileUrl":
        raise errors.invalid("fileUrl is not supported by the Brevo emulator; use fileBody")
    if sources[0] == "fileBody":
        return _csv_rows(body["fileBody"])
    return _json_rows(body["jsonBody"])


def _json_rows(value: object) -> list[Row]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise errors.invalid("jsonBody should be an array of objects")
    rows = []
    for item in value:
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise errors.invalid("jsonBody attributes should be an object")
        row = {str(name).upper(): attribute for name, attribute in attributes.items()}
        if item.get("email") is not None:
            row["EMAIL"] = item["email"]
        rows.append(row)
    return rows


def _csv_rows(value: object) -> list[Row]:
    if not isinstance(value, str):
        raise errors.invalid("fileBody should be a string")
    reader = csv.reader(io.StringIO(value), delimiter=";")
    header = [name.strip().upper() for name in next(reader, [])]
    if not header:
        raise errors.invalid("fileBody is empty")
    return [dict(zip(header, cells, strict=False)) for cells in reader if any(cells)]


def _options(store: ContactStore, body: dict[str, Any]) -> ImportOptions:
    list_ids = validation.int_list(body, "listIds")
    new_list = body.get("newList")
    if new_list is not None:
        list_ids = [*list_ids, _create_new_list(store, new_list)]
    if not list_ids:
        raise errors.missing("listIds is mandatory if newList is not defined")
    require_lists_exist(store, list_ids)
    return ImportOptions(
        list_ids=list_ids,
        update_existing=_flag(body, "updateExistingContacts", default=True),
        empty_attributes=_flag(body, "emptyContactsAttributes", default=False),
        email_blacklist=_flag(body, "emailBlacklist", default=False),
        sms_blacklist=_flag(body, "smsBlacklist", default=False),
    )


def _flag(body: dict[str, Any], name: str, *, default: bool) -> bool:
    value = validation.optional_bool(body, name)
    return default if value is None else value


def _create_new_list(store: ContactStore, new_list: object) -> int:
    if not isinstance(new_list, dict) or not isinstance(new_list.get("listName"), str):
        raise errors.invalid("newList.listName is required")
    folder_id = new_list.get("folderId")
    if not validation.is_int(folder_id):
        raise errors.missing("newList.folderId is mandatory with listName")
    if store.get_folder(folder_id) is None:
        raise errors.not_found("Folder ID does not exist")
    return store.create_list(new_list["listName"], folder_id).id


def apply_rows(
    store: ContactStore, rows: list[Row], options: ImportOptions, at_ms: int,
    *, false_keeps_true: bool = False,
) -> dict[str, int]:
    counters = dict.fromkeys(
        ["invalid_emails", "duplicate_contact_id", *_DUPLICATE_COUNTERS.values()], 0
    )
    seen: dict[str, set[str]] = {name: set() for name in _DUPLICATE_COUNTERS}
    for row in rows:
        _apply_row(store, row, options, at_ms, seen, counters, false_keeps_true)
    return counters


def _keep_trues(held: dict[str, Any], patch: ContactPatch) -> None:
    """A false in an import does not overwrite a true the contact holds (§14.4)."""
    for name, value in list(patch.attributes.items()):
        if value is False and held.get(name) is True:
            del patch.attributes[name]


def _apply_row(
    store: ContactStore,
    row: Row,
    options: ImportOptions,
    at_ms: int,
    seen: dict[str, set[str]],
    counters: dict[str, int],
    false_keeps_true: bool = False,
) -> None:
    patch = _row_patch(store, row, options, counters)
    if patch is None:
        return
    for name, value in patch.identifiers.items():
        if value and value in seen[name]:
            counters[_DUPLICATE_COUNTERS[name]] += 1
            return
    for name, value in patch.identifiers.items():
        if value:
            seen[name].add(value)
    target = locate(store, patch)
    clashing = store.conflicts(patch, target)
    if clashing:
        counters[_DUPLICATE_COUNTERS[clashing[0]]] += 1
    elif target is None:
        store.create(patch, at_ms=at_ms)
    elif options.update_existing:
        if false_keeps_true:
            _keep_trues(target.attributes, patch)
        store.update(target, patch, at_ms=at_ms)
    else:
        store.update(target, ContactPatch(add_lists=patch.add_lists), at_ms=at_ms)


def _row_patch(
    store: ContactStore, row: Row, options: ImportOptions, counters: dict[str, int]
) -> ContactPatch | None:
    if not options.empty_attributes:
        row = {name: value for name, value in row.items() if value not in ("", None)}
    try:
        identifiers, plain = split_attributes(store.attributes, row, lenient=True)
    except errors.EmulatedError as exc:
        if exc.message == errors.INVALID_EMAIL:
            counters["invalid_emails"] += 1
        return None
    if not any(identifiers.values()):
        counters["invalid_emails"] += 1
        return None
    return ContactPatch(
        identifiers=identifiers,
        attributes=plain,
        email_blacklisted=True if options.email_blacklist else None,
        sms_blacklisted=True if options.sms_blacklist else None,
        add_lists=options.list_ids,
    )
