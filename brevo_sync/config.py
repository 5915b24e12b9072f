"""Settings, read once from the environment into one object.

Missing or malformed values stop the process at start with a message naming the variable.
Secrets are wrapped so that they never print.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from brevo_sync.attributes import NAME_CHARACTERS, AttributeNames

RemovalAction = Literal["blocklist", "unlist", "delete", "none"]
REMOVAL_ACTIONS: tuple[RemovalAction, ...] = ("blocklist", "unlist", "delete", "none")

DEFAULT_BREVO_BASE_URL = "https://api.brevo.com/v3"
EPILOG_WIDTH = 100  # columns of the "Environment:" block in --help


# The commands that read each variable, named as on the command line. A command group's
# subcommand is named with its group ("webhooks install").
_WEBHOOKS = ("webhooks install", "webhooks status", "webhooks remove")
_DATABASE = ("migrate", "listen", "serve", "reconcile", "status", "dev", *_WEBHOOKS)
_BREVO = ("listen", "serve", "reconcile", "check", "dev", *_WEBHOOKS)
_PUSH = ("listen", "serve", "reconcile", "dev")
_SWEEP = ("serve", "reconcile", "dev")
_WEB = ("serve", "dev")


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: what it means (one line, its default included) and the
    commands that read it. `brevo-sync COMMAND --help` lists them from ENVIRONMENT, and a test
    checks that every variable read anywhere is in it."""

    name: str
    meaning: str
    commands: tuple[str, ...]


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("DATABASE_URL", "PostgreSQL URL, the pooled one is fine (dev without it: an embedded"
           " PostgreSQL)", _DATABASE),
    EnvVar("DATABASE_URL_UNPOOLED", "the direct, unpooled URL for LISTEN and migrations"
           " (default: DATABASE_URL)", _DATABASE),
    EnvVar("SSL_CERT_FILE", "CA bundle to verify TLS servers (default: the system's)",
           (*_DATABASE, "check")),
    EnvVar("BREVO_API_KEY", "Brevo API key (dev without it: the built-in Brevo emulator)", _BREVO),
    EnvVar("BREVO_BASE_URL", f"Brevo's API (default: {DEFAULT_BREVO_BASE_URL})", _BREVO),
    EnvVar("BREVO_LIST_ID", "the list opted-in customers are kept in (default: none)", _BREVO),
    EnvVar("BREVO_ATTR_FIRSTNAME", "the account's first-name attribute (default: FIRSTNAME)",
           _BREVO),
    EnvVar("BREVO_ATTR_LASTNAME", "the account's last-name attribute (default: LASTNAME)",
           _BREVO),
    EnvVar("BREVO_ATTR_SMS", "the account's phone attribute (default: SMS)", _BREVO),
    EnvVar("BREVO_ATTR_USED_WELCOME_OFFER", "the account's welcome-offer attribute"
           " (default: USED_WELCOME_OFFER)", _BREVO),
    EnvVar("BREVO_CONTACTS_PER_SECOND", "contacts calls per second (default: 10)", _BREVO),
    EnvVar("BREVO_CONTACTS_PER_HOUR", "contacts calls per hour (default: 36000)", _BREVO),
    EnvVar("BREVO_OTHER_PER_HOUR", "other Brevo calls per hour (default: 100)", _BREVO),
    EnvVar("BREVO_TIMEOUT_SECONDS", "one Brevo call's timeout (default: 10)", _BREVO),
    EnvVar("BREVO_BULK_THRESHOLD", "a backlog this large goes through a bulk import"
           " (default: 200)", _PUSH),
    EnvVar("BREVO_OPT_OUT_ACTION", "blocklist, unlist, delete or none for an opted-out customer"
           " (default: blocklist)", _PUSH),
    EnvVar("BREVO_DELETE_ACTION", "blocklist, unlist, delete or none for a deleted customer"
           " (default: unlist)", _PUSH),
    EnvVar("PHONE_DEFAULT_REGION", "country of phones written without one, e.g. FR"
           " (default: none)", _PUSH),
    EnvVar("BREVO_REMOVAL_GUARD_SHARE", "a sweep removing more than this share of synced"
           " contacts stops (default: 0.10)", _SWEEP),
    EnvVar("HISTORY_RETENTION_DAYS", "history, runs and webhook events older than this are"
           " pruned by the sweep (default: 90)", _SWEEP),
    EnvVar("RECONCILE_BUDGET_SECONDS", "how long the cron's and the page's sweep may push"
           " (default: 240)", _WEB),
    EnvVar("CRON_SECRET", "bearer secret of the cron route (default: none, the route refuses"
           " every call)", _WEB),
    EnvVar("BREVO_WEBHOOK_SECRET", "bearer secret of Brevo's webhook route, also given to"
           " Brevo by `webhooks install` (default: none, the route refuses every call)",
           (*_WEB, "webhooks install")),
    EnvVar("ADMIN_USER", "the admin page's user (default: admin)", _WEB),
    EnvVar("ADMIN_PASSWORD", "the admin page's password, 12 characters or more (dev without it:"
           " one generated and printed)", _WEB),
    EnvVar("METRICS_TOKEN", "bearer token for the API's /metrics (default: none, admin"
           " credentials only)", _WEB),
    EnvVar("LISTENER_STALL_SECONDS", "the listener's /healthz fails after this long without"
           " progress (default: 300)", ("listen", "dev")),
    EnvVar("XDG_CACHE_HOME", "the embedded database's data is in"
           " $XDG_CACHE_HOME/brevo-sync/dev-postgres (default: ~/.cache)", ("dev",)),
    EnvVar("LOG_LEVEL", "the Vercel function's log level (default: INFO); commands take"
           " --log-level", ()),
)


def environment_for(command: str) -> list[EnvVar]:
    """The variables `command` reads, in ENVIRONMENT's order."""
    return [var for var in ENVIRONMENT if command in var.commands]


def environment_epilog(command: str) -> str:
    """The "Environment:" block of `brevo-sync COMMAND --help`, one variable a line."""
    variables = environment_for(command)
    if not variables:
        return "Environment: none read."
    width = max(len(var.name) for var in variables)
    lines = ["Environment:"]
    for var in variables:
        meaning = textwrap.wrap(var.meaning, max(EPILOG_WIDTH - width - 4, 30),
                                break_on_hyphens=False)
        lines.append(f"  {var.name.ljust(width)}  {meaning[0]}")
        lines += [" " * (width + 4) + more for more in meaning[1:]]
    return "\n".join(lines)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable. `problems` holds
    each problem found, when several settings were wrong at once."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


# `scheme://user:PASSWORD@host` and `password=PASSWORD` (keyword DSNs, query strings). libpq
# ends the credentials at the first `/`, so `http://host:8025/v3/contacts/a@b.c` is no password.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/:@\s]*:)[^@/\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)")
REDACTED = "**********"


def redact_dsn(text: str) -> str:
    """Any text with the passwords of the DSNs in it replaced: safe to print or log."""
    text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    return _KEYWORD_PASSWORD.sub(rf"\1{REDACTED}", text)


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


@dataclass(frozen=True, repr=False)
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
    # The bearer Brevo's marketing webhooks carry (POST /api/webhooks/brevo); unset, the route
    # refuses every call.
    webhook_secret: Secret | None = None
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

    def __repr__(self) -> str:
        # The database URLs hold passwords: a settings object in a traceback or a log line
        # must not print them.
        shown = ", ".join(
            f"{f.name}={redact_dsn(repr(value)) if isinstance(value, str) else repr(value)}"
            for f in fields(self) for value in [getattr(self, f.name)])
        return f"Settings({shown})"

    __str__ = __repr__

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
        """Every setting read; when some are wrong, one ConfigError lists them all."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def read(parse: Callable[..., Any], *args: Any) -> Any:
            try:
                return parse(env, *args)
            except ConfigError as exc:
                problems.append(str(exc))
                return None

        values = dict(
            database_url=read(_url, "DATABASE_URL", ("postgres", "postgresql")),
            database_url_unpooled=read(_url, "DATABASE_URL_UNPOOLED", ("postgres", "postgresql")),
            brevo_api_key=read(_secret, "BREVO_API_KEY"),
            brevo_base_url=read(_url, "BREVO_BASE_URL", ("http", "https"))
            or DEFAULT_BREVO_BASE_URL,
            brevo_list_id=read(_int, "BREVO_LIST_ID", 1),
            cron_secret=read(_secret, "CRON_SECRET"),
            admin_user=read(_str, "ADMIN_USER") or "admin",
            admin_password=read(_secret, "ADMIN_PASSWORD"),
            metrics_token=read(_secret, "METRICS_TOKEN"),
            webhook_secret=read(_secret, "BREVO_WEBHOOK_SECRET"),
            opt_out_action=read(_choice, "BREVO_OPT_OUT_ACTION", "blocklist"),
            delete_action=read(_choice, "BREVO_DELETE_ACTION", "unlist"),
            removal_guard_share=read(_float, "BREVO_REMOVAL_GUARD_SHARE", 0.10, 0.0, 1.0),
            phone_default_region=read(_region, "PHONE_DEFAULT_REGION"),
            contacts_per_second=read(_float, "BREVO_CONTACTS_PER_SECOND", 10.0, 0.1, 10_000.0),
            contacts_per_hour=read(_int, "BREVO_CONTACTS_PER_HOUR", 1) or 36_000,
            other_per_hour=read(_int, "BREVO_OTHER_PER_HOUR", 1) or 100,
            brevo_timeout_seconds=read(_float, "BREVO_TIMEOUT_SECONDS", 10.0, 0.1, 300.0),
            bulk_threshold=read(_int, "BREVO_BULK_THRESHOLD", 1) or 200,
            history_retention_days=read(_int, "HISTORY_RETENTION_DAYS", 1) or 90,
            reconcile_budget_seconds=read(_float, "RECONCILE_BUDGET_SECONDS", 240.0, 1.0,
                                          86_400.0),
            attribute_names=read(_attribute_names),
            listener_stall_seconds=read(_float, "LISTENER_STALL_SECONDS", 300.0, 1.0, 86_400.0),
        )
        if problems:
            raise ConfigError("; ".join(problems), problems)
        return cls(**values)


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


def _int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
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
