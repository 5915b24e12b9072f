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
    """The number in E.164, or None when there is none or Brevo would refuse it.

    Brevo answers "Invalid phone number" for a number it cannot read, and fails the whole
    request with it: the customer would not reach Brevo even for email. Such a number is left
    out (see `phone_problem`) rather than sent.
    """
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    candidates = [text]
    digits = _PHONE_NOISE.sub("", text)
    if digits.isdigit():
        # Brevo also takes the country code without "+" (its "91xxxxxxxxxx" form).
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def phone_problem(raw: str | None, default_region: str | None = None) -> str | None:
    """Why the customer's phone is left out of what is sent to Brevo, or None."""
    if raw is None or not raw.strip() or normalize_phone(raw, default_region) is not None:
        return None
    national = not raw.strip().startswith(("+", "00"))
    hint = " (a national number needs PHONE_DEFAULT_REGION)" if national and not default_region \
        else ""
    return (f"phone {_clip(raw.strip())!r} left out: not a valid phone number{hint};"
            " pushed without it")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
