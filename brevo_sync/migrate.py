"""Numbered plain-SQL migrations, applied in order, each once, in one transaction.

The files ship with every install (`brevo_sync.resources.migrations_dir`). A transaction-level
advisory lock serialises concurrent starters, so two processes booting together never race,
and a transaction pooler cannot strand it on a server connection as it would a session lock.
Migrations still want the direct URL (Neon's `-pooler` host is refused): DDL through a pooler
is one more hop that can drop mid-way. Each applied file's checksum is kept: a file changed
after it was applied is refused, never silently skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

import psycopg

from brevo_sync.config import ConfigError, looks_like_neon_pooler
from brevo_sync.db import connect_kwargs
from brevo_sync.resources import migrations_dir

# Any constant works; this one spells "brevo" in ASCII.
MIGRATION_LOCK_KEY = 0x62726576_6F
# Another migrator may hold the lock for as long as its migrations take.
LOCK_WAIT = "120s"
# A migration waiting on a lock the application holds would queue every later write to that
# table behind it: fail instead, and let the operator run it again at a quieter moment.
STATEMENT_LOCK_TIMEOUT = "10s"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """Migrations cannot be applied as they are; the message says why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    folder = migrations_dir() if directory is None else directory
    found: list[Migration] = []
    entries = sorted(folder.iterdir(), key=lambda e: e.name) if folder.is_dir() else []
    for entry in entries:
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if not match:
            raise MigrationError(f"migration file name {entry.name!r} is not NNN_name.sql")
        found.append(Migration(int(match.group(1)), entry.name, entry.read_text()))
    if not found:
        raise MigrationError(f"no migration files found in {folder}: the install is incomplete")
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migrations share a number")
    return found


def migration_dsn(database_url: str | None, unpooled_url: str | None) -> str:
    """The direct URL when there is one; never a pooler's (see the module's docstring)."""
    dsn = unpooled_url or database_url
    if not dsn:
        raise ConfigError("DATABASE_URL_UNPOOLED (or DATABASE_URL) is not set:"
                          " point it at the Postgres database")
    if looks_like_neon_pooler(dsn):
        variable = "DATABASE_URL_UNPOOLED" if unpooled_url else "DATABASE_URL"
        raise ConfigError(f"{variable} names a connection pooler (its host has '-pooler');"
                          " migrations need a direct connection: set DATABASE_URL_UNPOOLED"
                          " to the database's direct (unpooled) URL")
    return dsn


def migrate(dsn: str, directory: Traversable | None = None) -> list[str]:
    """Apply what is missing, all in one transaction; returns the names applied (empty when up
    to date)."""
    migrations = load_migrations(directory)
    try:
        return _apply(dsn, migrations)
    except psycopg.errors.RaiseException as exc:
        # A migration's own refusal (the database is not fit for it): the message says why.
        raise MigrationError(f"{exc.diag.message_primary}; {exc.diag.message_hint or ''}"
                             .rstrip("; ")) from None


def _apply(dsn: str, migrations: list[Migration]) -> list[str]:
    applied: list[str] = []
    with psycopg.connect(dsn, **connect_kwargs("brevo-sync-migrate")) as conn, \
            conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(f"SET LOCAL lock_timeout = '{STATEMENT_LOCK_TIMEOUT}'")
        done = _prepare(conn)
        for migration in migrations:
            if migration.version in done:
                _verify(conn, migration, done[migration.version])
                continue
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO brevo_sync.schema_migrations (version, name, checksum)"
                " VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied.append(migration.name)
    return applied


def _prepare(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, str | None]:
    """The ledger, created or brought up to date; returns each applied version's checksum."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS brevo_sync")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS brevo_sync.schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute("ALTER TABLE brevo_sync.schema_migrations"
                 " ADD COLUMN IF NOT EXISTS checksum text")
    rows = conn.execute("SELECT version, checksum FROM brevo_sync.schema_migrations").fetchall()
    return {int(str(version)): None if checksum is None else str(checksum)
            for version, checksum in rows}


def _verify(conn: psycopg.Connection[tuple[object, ...]], migration: Migration,
            recorded: str | None) -> None:
    if recorded is None:
        # Applied before checksums were kept: today's file is taken as what was applied.
        conn.execute("UPDATE brevo_sync.schema_migrations SET checksum = %s WHERE version = %s",
                     (migration.checksum, migration.version))
    elif recorded != migration.checksum:
        raise MigrationError(
            f"migration {migration.name} was changed after it was applied to this database;"
            " applied migrations are never edited: put the change in a new migration")
