"""Errors raised by the Brevo client, and the pure rule that turns a response into one.

    BrevoError
    ├── BrevoTransientError           network error, timeout, 408, 425, 5xx: may work later
    │   ├── BrevoRateLimitedError     429: wait ``reset_after`` s (x-sib-ratelimit-reset)
    │   └── BrevoDeadlineError        a rate budget or a retry would wait past the deadline
    └── BrevoPermanentError           any other 4xx: resending the same request cannot help
        ├── BrevoNotFoundError        404
        └── BrevoAccountError         401, 402, 403: the account refuses every call (a revoked
                                      key, an unauthorised IP, no credits, under validation),
                                      not this row; callers pause instead of blaming the row

Every message names Brevo's status, code and message and never the API key: the client
translates httpx errors in one place (``client.py``) into these, with messages that omit headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Brevo returns the same duplicate condition with different `code`s (duplicate_parameter and,
# since 2026, invalid_parameter), so duplicates are recognised by status + metadata + message.
# "associate" also matches the older "is already associate with" wording.
_DUPLICATE_MESSAGE = re.compile(
    r"(?:^|,)\s*(?P<names>[\w ]+?)\s+(?:is|are) already associate", re.I
)
_LIST_NOOP_PHRASES = ("already in list", "already removed from list")
_ATTRIBUTE_EXISTS_PHRASE = "must be unique"
# 401 unauthorized (a wrong, revoked or missing key; an IP outside "Authorized IPs"), 402 not
# enough credits, 403 permission_denied / account_under_validation: all say the account (or
# the key) cannot be used right now, whatever the request. The codes count under any 4xx too.
ACCOUNT_STATUSES = frozenset({401, 402, 403})
ACCOUNT_CODES = frozenset(
    {"unauthorized", "not_enough_credits", "permission_denied", "account_under_validation"}
)


class BrevoError(Exception):
    """Base of every error raised by the Brevo client."""


class BrevoTransientError(BrevoError):
    """The request failed for a reason that may go away: retry it later with backoff."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BrevoRateLimitedError(BrevoTransientError):
    """Brevo answered 429; ``reset_after`` is the wait it announced, in seconds, if any."""

    def __init__(self, message: str, *, reset_after: float | None = None) -> None:
        super().__init__(message, status=429)
        self.reset_after = reset_after


class BrevoDeadlineError(BrevoTransientError):
    """Not sent: waiting for the rate budget (or before a retry) would end past the caller's
    deadline, so the caller gets the time back instead of sleeping through its budget."""

    def __init__(self, what: str, wait: float) -> None:
        super().__init__(f"{what} would wait {wait:.1f} s, past the caller's deadline")
        self.wait = wait


class BrevoPermanentError(BrevoError):
    """Brevo rejected the request itself (invalid phone, duplicate SMS, …): do not resend it."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        duplicate_identifiers: list[str] | None = None,
    ) -> None:
        super().__init__(_describe(status, code, message))
        self.status = status
        self.code = code
        self.message = message
        self.duplicate_identifiers = duplicate_identifiers or []


class BrevoNotFoundError(BrevoPermanentError):
    """The contact, list or process named in the path does not exist (404)."""


class BrevoAccountError(BrevoPermanentError):
    """Brevo refuses the account or the key, whatever was asked: no row is at fault.

    Its message is Brevo's reason and never holds the key.
    """


def is_account_failure(status: int, code: str | None) -> bool:
    """True when an error answer is about the account or the key, not about the request."""
    return 400 <= status < 500 and (status in ACCOUNT_STATUSES or code in ACCOUNT_CODES)


def classify_response(
    status: int, body: object, *, reset_after: float | None = None
) -> BrevoError | None:
    """Return the error a Brevo response stands for, or None for a success.

    ``body`` is the decoded JSON (or anything else: HTML error pages from Cloudflare, None).
    ``reset_after`` is the parsed ``x-sib-ratelimit-reset`` header, used for 429s.
    """
    if status < 400:
        return None
    code, message, duplicates = _error_fields(body)
    if status == 429:
        return BrevoRateLimitedError(_describe(status, code, message), reset_after=reset_after)
    if status in (408, 425) or status >= 500:
        return BrevoTransientError(_describe(status, code, message), status=status)
    if is_account_failure(status, code):
        return BrevoAccountError(status, code, message, duplicates)
    if status == 404:
        return BrevoNotFoundError(status, code, message, duplicates)
    return BrevoPermanentError(status, code, message, duplicates)


def is_duplicate_sms(err: BaseException) -> bool:
    """True when Brevo refused a write because the SMS number belongs to another contact."""
    return _is_duplicate(err, "sms")


def is_duplicate_email(err: BaseException) -> bool:
    """True when Brevo refused a write because the email belongs to another contact."""
    return _is_duplicate(err, "email")


def is_invalid_phone(err: BaseException) -> bool:
    """True for the 400 Brevo sends for a phone number it cannot read."""
    return _is_bad_request_saying(err, ("invalid phone number",))


def is_list_noop(err: BaseException) -> bool:
    """True for the 400 Brevo sends when a list add/remove had nothing to do."""
    return _is_bad_request_saying(err, _LIST_NOOP_PHRASES)


def is_attribute_exists(err: BaseException) -> bool:
    """True for the 400 Brevo sends when creating an attribute that already exists."""
    return _is_bad_request_saying(err, (_ATTRIBUTE_EXISTS_PHRASE,))


def _is_duplicate(err: BaseException, identifier: str) -> bool:
    if not isinstance(err, BrevoPermanentError) or err.status != 400:
        return False
    if identifier in (name.lower() for name in err.duplicate_identifiers):
        return True
    # Responses without metadata still name the identifiers in the message, e.g.
    # "Unable to update contact, SMS or EXT_ID are already associated with another Contact".
    match = _DUPLICATE_MESSAGE.search(err.message)
    return match is not None and identifier in match["names"].lower().split(" or ")


def _is_bad_request_saying(err: BaseException, phrases: tuple[str, ...]) -> bool:
    if not isinstance(err, BrevoPermanentError) or err.status != 400:
        return False
    message = err.message.lower()
    return any(phrase in message for phrase in phrases)


def _error_fields(body: object) -> tuple[str | None, str, list[str]]:
    if not isinstance(body, Mapping):
        return None, "", []
    code = body.get("code")
    message = body.get("message")
    metadata = body.get("metadata")
    duplicates: list[str] = []
    if isinstance(metadata, Mapping):
        raw = metadata.get("duplicate_identifiers")
        if isinstance(raw, list):
            duplicates = [str(name) for name in raw]
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else "",
        duplicates,
    )


def _describe(status: int, code: str | None, message: str) -> str:
    label = f"Brevo HTTP {status}"
    if code:
        label += f" {code}"
    return f"{label}: {message}" if message else label
