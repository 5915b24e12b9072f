"""Settings, read once from the environment into one object.

Missing or malformed values stop the process at start with a message naming the variable.
Secrets are wrapped so that they never print.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from brevo_sync.attributes import NAME_CHARACTERS, AttributeNames

RemovalAction = Literal["blocklist", "unlist", "delete", "none"]
REMOVAL_ACTIONS: tuple[RemovalAction, ...] = ("blocklist", "unlist", "delete", "none")

DEFAULT_BREVO_BASE_URL = "https://api.brevo.com/v3"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    database_url_unpooled: str | None = None
    brevo_api_key: Secret | None = None
    brevo_base_url: str = DEFAULT_BREVO_BASE_URL
    brevo_list_id: int | None = None
    cron_secret: Secret | None = None
    admin_user: str = "admin"
    admin_password: Secret | None = None
    # A bearer for the API's /metrics, so a scraper needs no admin password.
    metrics_token: Secret | None = None
    # What happens in Brevo when a synced customer opts out, or is deleted. Blocklisting is the
    # compliant default for opt-outs: it stops every campaign, whatever list the contact is in.
    opt_out_action: RemovalAction = "blocklist"
    delete_action: RemovalAction = "unlist"
    # A sweep that would remove or blocklist more than this share of synced contacts stops.
    removal_guard_share: float = 0.10
    phone_default_region: str | None = None
    contacts_per_second: float = 10.0
    contacts_per_hour: int = 36_000
    other_per_hour: int = 100
    brevo_timeout_seconds: float = 10.0
    bulk_threshold: int = 200
    history_retention_days: int = 90
    reconcile_budget_seconds: float = 240.0
    attribute_names: AttributeNames = field(default_factory=AttributeNames)
    # The listener's /healthz turns unhealthy after this long without progress on ready rows.
    listener_stall_seconds: float = 300.0
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def listener_dsn(self) -> str | None:
        return self.database_url_unpooled or self.database_url

    def require_database(self) -> str:
        """DATABASE_URL, else the direct URL: a process given only that one (the listener's
        container) has all it needs."""
        dsn = self.database_url or self.database_url_unpooled
        if not dsn:
            raise ConfigError("DATABASE_URL (or DATABASE_URL_UNPOOLED) is not set:"
                              " point it at the Postgres database")
        return dsn

    def require_brevo_key(self) -> Secret:
        if not self.brevo_api_key:
            raise ConfigError("BREVO_API_KEY is not set: create an API key in Brevo's settings")
        return self.brevo_api_key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=_url(env, "DATABASE_URL", ("postgres", "postgresql")),
            database_url_unpooled=_url(env, "DATABASE_URL_UNPOOLED", ("postgres", "postgresql")),
            brevo_api_key=_secret(env, "BREVO_API_KEY"),
            brevo_base_url=_url(env, "BREVO_BASE_URL", ("http", "https"))
            or DEFAULT_BREVO_BASE_URL,
            brevo_list_id=_int(env, "BREVO_LIST_ID", minimum=1),
            cron_secret=_secret(env, "CRON_SECRET"),
            admin_user=_str(env, "ADMIN_USER") or "admin",
            admin_password=_secret(env, "ADMIN_PASSWORD"),
            metrics_token=_secret(env, "METRICS_TOKEN"),
            opt_out_action=_choice(env, "BREVO_OPT_OUT_ACTION", "blocklist"),
            delete_action=_choice(env, "BREVO_DELETE_ACTION", "unlist"),
            removal_guard_share=_float(env, "BREVO_REMOVAL_GUARD_SHARE", 0.10, 0.0, 1.0),
            phone_default_region=_region(env, "PHONE_DEFAULT_REGION"),
            contacts_per_second=_float(env, "BREVO_CONTACTS_PER_SECOND", 10.0, 0.1, 10_000.0),
            contacts_per_hour=_int(env, "BREVO_CONTACTS_PER_HOUR", minimum=1) or 36_000,
            other_per_hour=_int(env, "BREVO_OTHER_PER_HOUR", minimum=1) or 100,
            brevo_timeout_seconds=_float(env, "BREVO_TIMEOUT_SECONDS", 10.0, 0.1, 300.0),
            bulk_threshold=_int(env, "BREVO_BULK_THRESHOLD", minimum=1) or 200,
            history_retention_days=_int(env, "HISTORY_RETENTION_DAYS", minimum=1) or 90,
            reconcile_budget_seconds=_float(env, "RECONCILE_BUDGET_SECONDS", 240.0, 1.0, 86_400.0),
            attribute_names=_attribute_names(env),
            listener_stall_seconds=_float(env, "LISTENER_STALL_SECONDS", 300.0, 1.0, 86_400.0),
        )


def looks_like_neon_pooler(dsn: str) -> bool:
    """Neon's pooled hosts carry `-pooler`; LISTEN through PgBouncer silently receives nothing."""
    try:
        host = urlsplit(dsn).hostname or ""
    except ValueError:
        return False
    return "-pooler" in host


def _str(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    raw = env.get(name, "")
    if not raw:
        return None
    if raw != raw.strip() or any(ch in raw for ch in "\r\n"):
        raise ConfigError(f"{name} has leading/trailing whitespace or a newline")
    return Secret(raw)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = _str(env, name)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid URL") from exc
    if parts.scheme not in schemes:
        raise ConfigError(f"{name} must start with {' or '.join(s + '://' for s in schemes)}")
    return value


def _int(env: Mapping[str, str], name: str, *, minimum: int) -> int | None:
    value = _str(env, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    value = _str(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _choice(env: Mapping[str, str], name: str, default: RemovalAction) -> RemovalAction:
    value = _str(env, name)
    if value is None:
        return default
    for action in REMOVAL_ACTIONS:
        if value.lower() == action:
            return action
    raise ConfigError(f"{name} must be one of {', '.join(REMOVAL_ACTIONS)}, got {value!r}")


def _attribute_names(env: Mapping[str, str]) -> AttributeNames:
    default = AttributeNames()
    names = AttributeNames(
        firstname=_attribute(env, "BREVO_ATTR_FIRSTNAME", default.firstname),
        lastname=_attribute(env, "BREVO_ATTR_LASTNAME", default.lastname),
        sms=_attribute(env, "BREVO_ATTR_SMS", default.sms),
        used_welcome_offer=_attribute(env, "BREVO_ATTR_USED_WELCOME_OFFER",
                                      default.used_welcome_offer),
    )
    seen: dict[str, str] = {}
    for setting, name, _ in names.wanted():
        if name in seen:
            raise ConfigError(f"{setting} names the same attribute as {seen[name]}: {name}")
        seen[name] = setting
    return names


def _attribute(env: Mapping[str, str], name: str, default: str) -> str:
    """An attribute name as Brevo spells it: upper-case letters, digits and underscores."""
    value = _str(env, name)
    if value is None:
        return default
    upper = value.upper()
    if not set(upper) <= NAME_CHARACTERS or upper in ("EMAIL",):
        raise ConfigError(f"{name} must be a Brevo attribute name such as NOM (letters, digits"
                          f" and underscores, not EMAIL), got {value!r}")
    return upper


def _region(env: Mapping[str, str], name: str) -> str | None:
    value = _str(env, name)
    if value is None:
        return None
    if len(value) != 2 or not value.isalpha():
        raise ConfigError(f"{name} must be a two-letter country code such as FR, got {value!r}")
    return value.upper()
