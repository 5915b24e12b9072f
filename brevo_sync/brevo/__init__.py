"""Brevo contacts API client: rate-limited, retrying, and careful with the API key."""

from brevo_sync.brevo.bulk import chunk_import_rows
from brevo_sync.brevo.client import BrevoClient, ClientStats
from brevo_sync.brevo.errors import (
    BrevoAccountError,
    BrevoError,
    BrevoNotFoundError,
    BrevoPermanentError,
    BrevoRateLimitedError,
    BrevoTransientError,
    classify_response,
    is_duplicate_email,
    is_duplicate_sms,
)
from brevo_sync.brevo.limiter import RateLimiter, RateLimits
from brevo_sync.brevo.models import Contact, ImportProcess, ListResult
from brevo_sync.brevo.payloads import lowered_email

__all__ = [
    "BrevoAccountError",
    "BrevoClient",
    "BrevoError",
    "BrevoNotFoundError",
    "BrevoPermanentError",
    "BrevoRateLimitedError",
    "BrevoTransientError",
    "ClientStats",
    "Contact",
    "ImportProcess",
    "ListResult",
    "RateLimiter",
    "RateLimits",
    "chunk_import_rows",
    "classify_response",
    "is_duplicate_email",
    "is_duplicate_sms",
    "lowered_email",
]
