"""Migrations against a real database: checksums, upgrades from older states, and the rights
the trigger needs from the application's role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from brevo_sync.migrate import MigrationError, load_migrations, migrate
from brevo_sync.resources import migrations_dir
from tests.factories import copy_migrations


@pytest.fixture
def empty_url(databases: Any) -> Iterator[str]:
    name = databases.create_empty()
    try:
        yield databases.server.url_for(name)
    finally:
        databases.drop(name)


def columns(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'brevo_sync' AND table_name = %s", (table,))}


def test_a_migration_changed_after_it_was_applied_is_refused(empty_url: str,
                                                              tmp_path: Path) -> None:
    folder = copy_migrations(tmp_path / "migrations")
    assert migrate(empty_url, folder)
    edited = folder / "002_sync_schema.sql"
    edited.write_text(edited.read_text() + "\n-- an edit after the fact\n")
    with pytest.raises(MigrationError, match="002_sync_schema.sql was changed"):
        migrate(empty_url, folder)


def test_a_ledger_from_before_checksums_is_completed_not_refused(empty_url: str) -> None:
    assert migrate(empty_url)
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE brevo_sync.schema_migrations DROP COLUMN checksum")
    assert migrate(empty_url) == []
    with psycopg.connect(empty_url) as conn:
        missing = conn.execute("SELECT count(*) FROM brevo_sync.schema_migrations"
                               " WHERE checksum IS NULL").fetchone()
    assert missing == (0,)


def test_a_database_at_005_receives_the_withheld_sms_column(empty_url: str,
                                                            tmp_path: Path) -> None:
    assert migrate(empty_url, copy_migrations(tmp_path / "upto5", up_to=5))
    assert "sms_withheld_fingerprint" not in columns(empty_url, "sync_state")
    assert "006_trigger_definer_withheld_sms.sql" in migrate(empty_url)
    assert "sms_withheld_fingerprint" in columns(empty_url, "sync_state")


def test_a_database_given_the_column_by_an_earlier_005_still_migrates(
        empty_url: str, tmp_path: Path) -> None:
    assert migrate(empty_url, copy_migrations(tmp_path / "upto5", up_to=5))
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE brevo_sync.sync_state ADD COLUMN sms_withheld_fingerprint text")
    assert "006_trigger_definer_withheld_sms.sql" in migrate(empty_url)


def test_no_migration_files_is_an_error_not_up_to_date(empty_url: str, tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no migration files"):
        migrate(empty_url, tmp_path)


def test_the_shipped_folder_holds_every_migration() -> None:
    names = sorted(entry.name for entry in migrations_dir().iterdir()
                   if entry.name.endswith(".sql"))
    assert names[0].startswith("001_") and len(names) == len(load_migrations())


def test_an_application_role_with_rights_on_customers_only_can_write(database_url: str) -> None:
    """The trigger's function runs with its owner's rights: the writer needs none on
    schema brevo_sync."""
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role}")
        try:
            admin.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.customers TO {role}")
            with psycopg.connect(database_url, autocommit=True) as app:
                app.execute(f"SET ROLE {role}")
                row = app.execute("INSERT INTO customers (email, marketing_opt_in)"
                                  " VALUES ('writer@example.com', true) RETURNING id").fetchone()
                customer = row[0] if row else None
                app.execute("UPDATE customers SET first_name = 'Ada' WHERE id = %s",
                            (customer,))
                app.execute("DELETE FROM customers WHERE id = %s", (customer,))
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute("SELECT count(*) FROM brevo_sync.queue")
            queued = admin.execute("SELECT deleted FROM brevo_sync.queue WHERE customer_id = %s",
                                   (customer,)).fetchone()
            assert queued == (True,)
        finally:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_a_customers_table_whose_id_is_not_a_uuid_is_refused(empty_url: str) -> None:
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id bigint PRIMARY KEY, email text)")
    with pytest.raises(MigrationError, match="customers.id is bigint"):
        migrate(empty_url)
    with psycopg.connect(empty_url) as conn:  # nothing of it stayed
        assert conn.execute("SELECT to_regclass('brevo_sync.queue')").fetchone() == (None,)
