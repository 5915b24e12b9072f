"""Turning create/update payloads into validated `ContactPatch`es, and finding the upsert target."""

from __future__ import annotations

from typing import Any

from brevo_sync.emulator import errors, validation
from brevo_sync.emulator.attributes import PHONE_ATTRIBUTES, AttributeRegistry
from brevo_sync.emulator.store import ContactPatch, ContactStore, StoredContact

# Upsert matches on the first identifier present in this order.
_MATCH_ORDER = ("email", "EXT_ID", "SMS", "WHATSAPP", "LANDLINE_NUMBER")


def split_attributes(
    registry: AttributeRegistry,
    raw: object,
    *,
    unknown: str = "ignore",
    lenient: bool = False,
) -> tuple[dict[str, str | None], dict[str, Any]]:
    """(identifier values, typed plain attributes). Bad identifiers raise; mistyped values drop."""
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise errors.invalid("attributes should be an object")
    identifiers: dict[str, str | None] = {}
    plain: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).upper()
        if name == "EMAIL":
            if value not in (None, ""):
                identifiers["email"] = validation.require_email(value)
        elif name in PHONE_ATTRIBUTES:
            identifiers[name] = None if value in (None, "") else validation.require_phone(value)
        elif name == "EXT_ID":
            identifiers[name] = _ext_id(value)
        else:
            _add_plain(registry, plain, name, value, unknown=unknown, lenient=lenient)
    return identifiers, plain


def _add_plain(
    registry: AttributeRegistry,
    plain: dict[str, Any],
    name: str,
    value: object,
    *,
    unknown: str,
    lenient: bool,
) -> None:
    attribute = registry.get(name)
    if attribute is None:
        if unknown == "error":
            raise errors.invalid(f"Attribute {name} does not exist")
        return
    if value is None:
        return
    if value == "":
        plain[name] = None
        return
    accepted, stored = attribute.coerce(value, lenient=lenient)
    if accepted:
        plain[name] = stored


def _ext_id(value: object) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise errors.invalid("ext_id should be a string")
    return str(value)


def _common_fields(body: dict[str, Any], patch: ContactPatch) -> None:
    if "ext_id" in body:
        patch.identifiers["EXT_ID"] = _ext_id(body["ext_id"])
    patch.email_blacklisted = validation.optional_bool(body, "emailBlacklisted")
    patch.sms_blacklisted = validation.optional_bool(body, "smsBlacklisted")
    patch.add_lists = validation.int_list(body, "listIds")
    senders = body.get("smtpBlacklistSender")
    if senders is not None and (
        not isinstance(senders, list)
        or not all(validation.normalise_email(item) for item in senders)
    ):
        raise errors.invalid("Invalid smtpBlacklistSender format")


def require_lists_exist(store: ContactStore, list_ids: list[int]) -> None:
    if store.missing_lists(list_ids):
        raise errors.invalid(errors.LIST_NOT_FOUND)


def create_patch(
    store: ContactStore, body: dict[str, Any], *, unknown: str
) -> tuple[ContactPatch, bool]:
    """The patch for POST /contacts and whether `updateEnabled` asks for an upsert."""
    identifiers, plain = split_attributes(store.attributes, body.get("attributes"), unknown=unknown)
    patch = ContactPatch(identifiers=identifiers, attributes=plain)
    if body.get("email") is not None:
        patch.identifiers["email"] = validation.require_email(body["email"])
    _common_fields(body, patch)
    update_enabled = validation.optional_bool(body, "updateEnabled") or False
    require_lists_exist(store, patch.add_lists)
    if not any(patch.identifiers.values()):
        raise errors.missing(errors.MISSING_IDENTIFIER)
    return patch, update_enabled


def update_patch(store: ContactStore, body: dict[str, Any], *, unknown: str) -> ContactPatch:
    """The patch for PUT /contacts/{identifier}: attributes.EMAIL renames, unlinkListIds removes."""
    identifiers, plain = split_attributes(store.attributes, body.get("attributes"), unknown=unknown)
    patch = ContactPatch(identifiers=identifiers, attributes=plain)
    _common_fields(body, patch)
    patch.remove_lists = validation.int_list(body, "unlinkListIds")
    require_lists_exist(store, patch.list_ids())
    return patch


def locate(store: ContactStore, patch: ContactPatch) -> StoredContact | None:
    """The existing contact an upsert applies to: matched on its first identifier only."""
    for name in _MATCH_ORDER:
        value = patch.identifiers.get(name)
        if value:
            return store.find(name, value)
    return None


def find_by_identifier(store: ContactStore, identifier: str, kind: str | None
                       ) -> StoredContact | None:
    """Resolve a path identifier as Brevo does; without a type, digits mean a contact id."""
    if kind is None:
        if identifier.isdigit():
            return store.get(int(identifier))
        if "@" in identifier:
            return store.find("email", identifier.strip().lower())
        phone = validation.normalise_phone(identifier)
        return store.find("SMS", phone) if phone else None
    return _find_typed(store, identifier, kind)


_PHONE_KINDS = {
    "phone_id": "SMS",
    "whatsapp_id": "WHATSAPP",
    "landline_number_id": "LANDLINE_NUMBER",
}


def _find_typed(store: ContactStore, identifier: str, kind: str) -> StoredContact | None:
    if kind == "contact_id":
        return store.get(int(identifier)) if identifier.isdigit() else None
    if kind == "email_id":
        return store.find("email", identifier.strip().lower())
    if kind == "ext_id":
        return store.find("EXT_ID", identifier)
    if kind in _PHONE_KINDS:
        phone = validation.normalise_phone(identifier)
        return store.find(_PHONE_KINDS[kind], phone) if phone else None
    raise errors.invalid("Invalid identifierType")
