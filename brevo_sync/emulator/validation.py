"""Checks on request values: emails, phone numbers and the JSON field types Brevo insists on."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, TypeGuard

import phonenumbers

from brevo_sync.emulator import errors

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
# Separators people type inside numbers; Brevo's accepted forms are only digits with a prefix.
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_MIN_PHONE_DIGITS = 6


def normalise_email(value: object) -> str | None:
    """The stored form (trimmed, lower-case), or None when it is not an email address."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        return None
    return email


def require_email(value: object) -> str:
    email = normalise_email(value)
    if email is None:
        raise errors.invalid(errors.INVALID_EMAIL)
    return email


def normalise_phone(value: object) -> str | None:
    """Digits with country code and no '+', or None for a number Brevo would refuse.

    Brevo documents `+CC…`, `CC…` and `00CC…`; a national number (`06…`) has no country code.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return _normalise_phone_text(str(value))


@lru_cache(maxsize=200_000)
def _normalise_phone_text(text: str) -> str | None:
    digits = _PHONE_SEPARATORS.sub("", text)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if len(digits) < _MIN_PHONE_DIGITS or not digits.isdigit():
        return None
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def require_phone(value: object) -> str:
    phone = normalise_phone(value)
    if phone is None:
        raise errors.invalid(errors.INVALID_PHONE)
    return phone


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.EmulatedError(400, "bad_request", errors.INVALID_JSON) from exc
    if not isinstance(body, dict):
        raise errors.EmulatedError(400, "bad_request", errors.INVALID_JSON)
    return body


def optional_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise errors.invalid(f"{name} should be a boolean")


def optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise errors.invalid(f"{name} should be a string")


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def int_list(body: dict[str, Any], name: str) -> list[int]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(is_int(item) for item in value):
        raise errors.invalid(f"{name} should be an array of integers")
    return value


def query_int(
    params: dict[str, str], name: str, default: int, *, maximum: int | None = None
) -> int:
    """An integer query parameter; out of range answers `out_of_range` like Brevo's limit checks."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise errors.invalid(f"{name} should be an integer") from exc
    if value < 0 or (maximum is not None and value > maximum):
        bounds = f"between 0 and {maximum}" if maximum is not None else "at least 0"
        raise errors.EmulatedError(400, "out_of_range", f"{name} must be {bounds}")
    return value


def query_sort(params: dict[str, str]) -> str:
    sort = params.get("sort") or "desc"
    if sort not in ("asc", "desc"):
        raise errors.invalid("sort should be asc or desc")
    return sort
