"""What the Brevo API returns, as typed values: contacts, import processes, list results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Brevo's older definition says "in_process", the newer one "processing": one name here.
_STATUS_ALIASES = {"in_process": "processing"}
FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})


def parse_datetime(value: str) -> datetime:
    """Parse Brevo's timestamps into aware UTC datetimes.

    Documented as ``YYYY-MM-DDTHH:mm:ss.SSSZ`` but seen with and without milliseconds and
    with account-timezone offsets; a value without an offset is taken as UTC.
    """
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """Format for Brevo query parameters: UTC, ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def normalize_status(status: str) -> str:
    """Lower-case a process status and map Brevo's historical aliases onto one name."""
    lowered = status.strip().lower()
    return _STATUS_ALIASES.get(lowered, lowered)


@dataclass(frozen=True)
class Contact:
    """A Brevo contact as returned by GET /contacts and GET /contacts/{identifier}."""

    id: int
    email: str | None
    attributes: dict[str, Any]
    list_ids: list[int]
    email_blacklisted: bool
    sms_blacklisted: bool
    created_at: datetime
    modified_at: datetime
    # Lists the person left (only where the account has per-list unsubscription on).
    list_unsubscribed: list[int] = field(default_factory=list)
    # The person's own unsubscriptions (campaign links), from GET /contacts/{id}'s statistics;
    # a listing carries no statistics, so it says 0 there.
    user_unsubscriptions: int = 0

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Contact:
        email = data.get("email")
        statistics = data.get("statistics")
        unsubscriptions = statistics.get("unsubscriptions") if isinstance(
            statistics, Mapping) else None
        by_user = unsubscriptions.get("userUnsubscription") if isinstance(
            unsubscriptions, Mapping) else None
        return cls(
            id=int(data["id"]),
            # Brevo stores emails lower-case, but matching must not depend on that.
            email=email.strip().lower() if isinstance(email, str) and email else None,
            attributes=dict(data.get("attributes") or {}),
            list_ids=[int(list_id) for list_id in data.get("listIds") or []],
            email_blacklisted=bool(data.get("emailBlacklisted", False)),
            sms_blacklisted=bool(data.get("smsBlacklisted", False)),
            created_at=parse_datetime(data["createdAt"]),
            modified_at=parse_datetime(data["modifiedAt"]),
            list_unsubscribed=[int(list_id) for list_id in data.get("listUnsubscribed") or []],
            user_unsubscriptions=len(by_user) if isinstance(by_user, list) else 0,
        )


@dataclass(frozen=True)
class ImportProcess:
    """An asynchronous Brevo process (GET /processes/{id}), typically a contact import."""

    id: int
    status: str
    info: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    error: str | None = None
    created_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ImportProcess:
        error = data.get("error")
        created = data.get("created_at")
        return cls(
            id=int(data["id"]),
            status=normalize_status(str(data.get("status", ""))),
            info=dict(data.get("info") or {}),
            name=data.get("name"),
            error=str(error) if error else None,
            created_at=parse_datetime(created) if isinstance(created, str) and created else None,
        )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def import_counts(self) -> dict[str, int]:
        """`info.import` counters where Brevo gives numbers. The newer definition gives a
        CSV report's URL (or null) under the same names instead: those are left out here
        (see :attr:`import_reports`), and nothing may depend on the counts being there."""
        return {name: value for name, value in self._import_info().items()
                if isinstance(value, int) and not isinstance(value, bool)}

    @property
    def import_reports(self) -> dict[str, str]:
        """`info.import` entries that are report URLs (the newer definition's shape)."""
        return {name: value for name, value in self._import_info().items()
                if isinstance(value, str) and value}

    def _import_info(self) -> dict[str, Any]:
        block = self.info.get("import")
        return dict(block) if isinstance(block, Mapping) else {}

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"


@dataclass
class ListResult:
    """Outcome of adding contacts to (or removing them from) a list, over all chunks.

    ``unchanged`` holds what Brevo put in neither success nor failure: already in (or already
    out of) the list, or unknown to Brevo — it does not say which.
    """

    success: list[str | int] = field(default_factory=list)
    failure: list[str | int] = field(default_factory=list)
    unchanged: list[str | int] = field(default_factory=list)

    def merge(self, other: ListResult) -> None:
        self.success.extend(other.success)
        self.failure.extend(other.failure)
        self.unchanged.extend(other.unchanged)
