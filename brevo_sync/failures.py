"""Why a command could not do its work: one line naming the setting and the cause, and an exit
code a script can tell apart. Never a traceback, never a secret.

    2  configuration: a setting is missing or malformed (each problem on its own line)
    5  the database cannot be reached, or refused the login
    6  Brevo refused the API key, or cannot be reached

1, 3 and 4 keep the meanings `reconcile` gives them (failed rows, the safeguard refused,
another sweep running).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import psycopg
import psycopg_pool

from brevo_sync.brevo.errors import BrevoError, BrevoPermanentError
from brevo_sync.config import redact_dsn
from brevo_sync.db import connect

EXIT_CONFIG = 2
EXIT_DATABASE = 5
EXIT_BREVO = 6

# A command checks the database before any work: libpq's connect_timeout (10 s, db.KEEPALIVES)
# bounds each attempt, this bounds the whole check (name resolution, several hosts).
DATABASE_CHECK_SECONDS = 15.0

# What the database or the network raise when the server is down, refuses the login or
# goes away mid-way; the pool's PoolTimeout when none of its connections could be made.
DATABASE_ERRORS = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


class Unavailable(Exception):
    """A service the command needs cannot be used; `line` is what the user is told."""

    exit_code = 1

    def __init__(self, setting: str, cause: str) -> None:
        self.setting = setting
        self.cause = cause
        super().__init__(self.line)

    @property
    def line(self) -> str:
        return f"{self.setting}: {self.cause}"


class DatabaseUnreachable(Unavailable):
    exit_code = EXIT_DATABASE

    @property
    def line(self) -> str:
        return f"cannot reach the database ({self.setting}): {self.cause}"


class BrevoUnavailable(Unavailable):
    exit_code = EXIT_BREVO

    @property
    def line(self) -> str:
        return f"Brevo refused or cannot be reached ({self.setting}): {self.cause}"


def describe(exc: BaseException) -> str:
    """The first line of the error's message, with any DSN password redacted."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    return redact_dsn(text) if text else type(exc).__name__


def database_setting(environ: Mapping[str, str], *, direct: bool) -> str:
    """The variable whose URL a command connects with: the direct one first for migrations and
    LISTEN (`direct`), DATABASE_URL first for everything else (Settings.require_database)."""
    unpooled = bool(environ.get("DATABASE_URL_UNPOOLED", "").strip())
    pooled = bool(environ.get("DATABASE_URL", "").strip())
    if direct:
        return "DATABASE_URL_UNPOOLED" if unpooled else "DATABASE_URL"
    return "DATABASE_URL" if pooled or not unpooled else "DATABASE_URL_UNPOOLED"


def database_unreachable(exc: BaseException, setting: str) -> DatabaseUnreachable:
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return DatabaseUnreachable(setting, "no connection could be made in time")
    if isinstance(exc, TimeoutError):
        return DatabaseUnreachable(
            setting, f"no answer within {DATABASE_CHECK_SECONDS:g} s")
    return DatabaseUnreachable(setting, describe(exc))


def brevo_unavailable(exc: BrevoError) -> BrevoUnavailable:
    if isinstance(exc, BrevoPermanentError) and exc.status in (401, 403):
        return BrevoUnavailable("BREVO_API_KEY", f"Brevo refused the key: {describe(exc)}")
    if isinstance(exc, BrevoPermanentError):
        return BrevoUnavailable("BREVO_BASE_URL", describe(exc))
    return BrevoUnavailable("BREVO_BASE_URL", f"no usable answer: {describe(exc)}")


async def check_database(dsn: str, setting: str) -> None:
    """Connect once and run a query: a database that is down fails here, in bounded time,
    rather than as a pool's endless retries."""
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            conn = await connect(dsn, "brevo-sync-check")
            async with conn:
                await conn.execute("SELECT 1")
    except (psycopg.OperationalError, OSError, TimeoutError) as exc:
        raise database_unreachable(exc, setting) from None
