"""Turning a customer's raw fields into what Brevo accepts, or a clear reason why not."""

from __future__ import annotations

import re

import phonenumbers

# Brevo documents no length limit for text attributes; a longer name is almost surely
# garbage, so it is reported instead of being pushed or silently cut.
MAX_NAME_LENGTH = 255
MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path

# Deliberately simple: local@domain.tld with no spaces. Brevo has the final word.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_NOISE = re.compile(r"[\s().\-/]")


class InvalidField(ValueError):
    """A field that cannot be sent to Brevo, with the reason an admin can act on."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def normalize_email(raw: str | None) -> str:
    """Trimmed and lower-cased, since Brevo matches emails case-insensitively."""
    if raw is None or not raw.strip():
        raise InvalidField("email", "the customer has no email address")
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidField("email", f"is {len(email)} characters long (at most 254)")
    if not _EMAIL.match(email):
        raise InvalidField("email", f"{_clip(email)!r} is not a valid email address")
    return email


def normalize_name(field: str, raw: str | None) -> str:
    """Names are sent trimmed; an absent name is sent as empty so Brevo clears it."""
    if raw is None:
        return ""
    name = raw.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidField(field, f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})")
    return name


def normalize_phone(raw: str | None, default_region: str | None = None) -> str | None:
    """E.164 when the number parses as valid; otherwise the digits as given, for Brevo to judge.

    Passing an unparseable number through (rather than dropping it) means the customer's
    record shows Brevo's own verdict, and nothing is silently lost.
    """
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return _PHONE_NOISE.sub("", raw.strip())
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _PHONE_NOISE.sub("", raw.strip())


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
