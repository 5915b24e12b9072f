"""Helpers that read as sentences in tests: add customers, read them back."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import psycopg

from brevo_sync.migrate import load_migrations

_counter = itertools.count(1)

COLUMNS = ("email", "first_name", "last_name", "phone", "marketing_opt_in",
           "used_welcome_offer")


def customer_fields(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    fields: dict[str, Any] = {
        "email": f"customer{n}@example.com",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "phone": None,
        "marketing_opt_in": True,
        "used_welcome_offer": False,
    }
    fields.update(overrides)
    return fields


def add_customer(db: psycopg.Connection[Any], **overrides: Any) -> uuid.UUID:
    fields = customer_fields(**overrides)
    names = ", ".join(fields)
    marks = ", ".join(f"%({k})s" for k in fields)
    row = db.execute(f"INSERT INTO customers ({names}) VALUES ({marks}) RETURNING id",
                     fields).fetchone()
    assert row is not None
    return row["id"] if isinstance(row, dict) else row[0]


def add_customers(db: psycopg.Connection[Any], count: int, **overrides: Any) -> list[uuid.UUID]:
    return [add_customer(db, **overrides) for _ in range(count)]


def customer(db: psycopg.Connection[Any], customer_id: uuid.UUID) -> dict[str, Any]:
    row = db.execute("SELECT * FROM customers WHERE id = %s", (customer_id,)).fetchone()
    assert row is not None
    return dict(row)


def pending(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) AS n FROM brevo_sync.queue").fetchone()
    assert row is not None
    return int(row["n"])


def state(db: psycopg.Connection[Any], customer_id: uuid.UUID) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM brevo_sync.sync_state WHERE customer_id = %s",
                     (customer_id,)).fetchone()
    return dict(row) if row else None


def copy_migrations(into: Path, up_to: int | None = None) -> Path:
    """The shipped migrations up to a version, as a folder `migrate` takes: a database as an
    older release left it."""
    into.mkdir()
    for migration in load_migrations():
        if up_to is None or migration.version <= up_to:
            (into / migration.name).write_text(migration.sql)
    return into
