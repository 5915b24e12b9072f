"""What the client sends to Brevo and how it reads list answers: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from brevo_sync.brevo.models import ListResult


def lowered_email(email: str) -> str:
    """The form Brevo stores and matches an email in (trimmed, lower-cased); refuses an empty
    one. Not a validation: that is brevo_sync.normalize.normalize_email."""
    normalized = email.strip().lower()
    if not normalized:
        raise ValueError("email is empty")
    return normalized


def email_path(email: str) -> str:
    return f"/contacts/{quote(lowered_email(email), safe='')}"


def contact_body(
    email: str,
    attributes: Mapping[str, Any],
    list_ids: Iterable[int] | None,
    email_blacklisted: bool | None,
    *,
    update: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": lowered_email(email),
        "attributes": dict(attributes),
        "updateEnabled": update,
    }
    if list_ids:
        body["listIds"] = [int(list_id) for list_id in list_ids]
    if email_blacklisted is not None:
        body["emailBlacklisted"] = email_blacklisted
    return body


def import_row(row: Mapping[str, Any]) -> dict[str, Any]:
    normalized = dict(row)
    if isinstance(normalized.get("email"), str):
        normalized["email"] = lowered_email(normalized["email"])
    return normalized


def list_members(emails: Sequence[str] | None, ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    if (emails is None) == (ids is None):
        raise ValueError("give exactly one of emails= or ids=")
    if emails is not None:
        return "emails", [lowered_email(email) for email in emails]
    return "ids", [int(contact_id) for contact_id in ids or []]


def list_result(chunk: list[Any], body: Mapping[str, Any]) -> ListResult:
    """Split a chunk by Brevo's answer; what it names in neither list was unchanged."""
    # The schema wraps the result in "contacts"; the spec's examples do not. Accept both.
    inner = body.get("contacts", body)
    if not isinstance(inner, Mapping):
        inner = {}
    success = list(inner.get("success") or [])
    failure = list(inner.get("failure") or [])
    seen = {_member_key(item) for item in (*success, *failure)}
    unchanged = [item for item in chunk if _member_key(item) not in seen]
    return ListResult(success=success, failure=failure, unchanged=unchanged)


def _member_key(item: object) -> str:
    return str(item).strip().lower()
