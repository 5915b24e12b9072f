"""The emulator's settings: one mutable dataclass, patched live through the control API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

UnknownAttributes = Literal["ignore", "error"]
# What a Brevo account that cannot be used right now answers to every call, after the key
# check: (status, code, message). [I] the messages are ours; statuses and codes are Brevo's.
ACCOUNT_REFUSALS: dict[str, tuple[int, str, str]] = {
    "not_enough_credits": (402, "not_enough_credits", "You do not have enough credits"),
    "permission_denied": (403, "permission_denied", "Permission denied for this API key"),
    "account_under_validation": (
        403, "account_under_validation", "Your account is under validation"),
}
# The language edition of the account: it decides the default name attributes (an English
# account has FIRSTNAME/LASTNAME, a French one NOM/PRENOM). Applies when the account is created
# (at start, and on POST /_emulator/reset?attributes=true).
AccountLanguage = Literal["en", "fr"]
ImportOutcome = Literal["completed", "failed", "cancelled"]
ProcessInfo = Literal["counts", "reports"]
IMPORT_OUTCOMES = ("completed", "failed", "cancelled")
PROCESS_INFOS = ("counts", "reports")


@dataclass
class EmulatorConfig:
    """How the fake Brevo account behaves; read on every call, so edits apply at once."""

    api_key: str | None = None
    # Keys revoked in Brevo's settings at run time: refused as unknown ("Key not found").
    revoked_keys: list[str] = field(default_factory=list)
    # "Authorized IPs": None is off; a list refuses every caller whose address is not in it.
    authorized_ips: list[str] | None = None
    # The account refuses every call: one of ACCOUNT_REFUSALS' names, or None.
    account_refusal: str | None = None
    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 2.0
    storm_rate: float = 0.0
    storm_seconds: float = 1.0
    rate_limits: bool = False
    contacts_rps: int = 10
    contacts_rph: int = 36000
    other_rph: int = 100
    import_base_ms: float = 500.0
    import_ms_per_contact: float = 0.1
    # Brevo queues imports behind other work (its own examples run 2-5 minutes): each import
    # waits this long before it starts.
    import_queue_seconds: float = 0.0
    # How imports end: "failed" or "cancelled" imports apply nothing.
    import_outcome: ImportOutcome = "completed"
    # `info.import` as the stored definition has it (counts) or as Brevo's newer definition
    # types it (CSV report URLs or null).
    process_info: ProcessInfo = "counts"
    unknown_attributes: UnknownAttributes = "ignore"
    account_language: AccountLanguage = "en"
    # Per-list unsubscription turned on for the account: a person can leave one list
    # (`listUnsubscribed`); adding them to it again re-subscribes them, as Brevo does.
    list_unsubscription: bool = False
    # Brevo reportedly keeps an existing true when an import body says false (§14.4).
    import_false_keeps_true: bool = False
    seed: int | None = None
    # Webhook deliveries (emulator/webhooks.py): held this long before sending, sent this many
    # extra times each, and the held ones sent newest first.
    webhook_delay_ms: float = 0.0
    webhook_duplicates: int = 0
    webhook_reorder: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def apply_patch(self, patch: dict[str, Any]) -> None:
        """Validate every field of a partial update first, so a bad patch changes nothing."""
        checked = {name: _checked_value(name, value) for name, value in patch.items()}
        for name, value in checked.items():
            setattr(self, name, value)


_RATES = {"error_rate", "timeout_rate", "storm_rate"}
_DURATIONS = {
    "latency_ms",
    "timeout_seconds",
    "storm_seconds",
    "import_base_ms",
    "import_ms_per_contact",
    "import_queue_seconds",
    "webhook_delay_ms",
}
_COUNTS = {"contacts_rps", "contacts_rph", "other_rph"}


def _checked_value(name: str, value: Any) -> Any:
    if name in _RATES:
        number = _number(name, value)
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
        return number
    if name in _DURATIONS:
        number = _number(name, value)
        if number < 0:
            raise ValueError(f"{name} must not be negative")
        return number
    if name in _COUNTS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer")
        return value
    return _checked_other(name, value)


_FLAGS = {"rate_limits", "list_unsubscription", "import_false_keeps_true", "webhook_reorder"}


def _checked_other(name: str, value: Any) -> Any:
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if name == "account_language":
        if value not in ("en", "fr"):
            raise ValueError("account_language must be 'en' or 'fr'")
        return value
    if name == "unknown_attributes":
        if value not in ("ignore", "error"):
            raise ValueError("unknown_attributes must be 'ignore' or 'error'")
        return value
    if name == "import_outcome":
        if value not in IMPORT_OUTCOMES:
            raise ValueError(f"import_outcome must be one of {', '.join(IMPORT_OUTCOMES)}")
        return value
    if name == "process_info":
        if value not in PROCESS_INFOS:
            raise ValueError(f"process_info must be one of {', '.join(PROCESS_INFOS)}")
        return value
    if name == "api_key":
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError("api_key must be a non-empty string or null")
        return value
    if name in ("revoked_keys", "authorized_ips"):
        return _string_list(name, value, nullable=name == "authorized_ips")
    if name == "account_refusal":
        if value is not None and value not in ACCOUNT_REFUSALS:
            raise ValueError(f"account_refusal must be null or one of {sorted(ACCOUNT_REFUSALS)}")
        return value
    if name == "webhook_duplicates":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
            raise ValueError("webhook_duplicates must be an integer from 0 to 10")
        return value
    if name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("seed must be an integer or null")
        return value
    raise ValueError(f"unknown setting {name!r}")


def _string_list(name: str, value: Any, *, nullable: bool) -> list[str] | None:
    if value is None and nullable:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        nothing = " or null" if nullable else ""
        raise ValueError(f"{name} must be a list of non-empty strings{nothing}")
    return list(value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)
