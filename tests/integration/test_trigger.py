"""The trigger queues each change to a synced column, and wakes the listener sparingly."""

from __future__ import annotations

from typing import Any

import psycopg

from brevo_sync.db import q
from tests.factories import add_customer, pending


def queue_row(db: psycopg.Connection[Any], customer_id: object) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM brevo_sync.queue WHERE customer_id = %s",
                     (customer_id,)).fetchone()
    return dict(row) if row else None


def test_insert_queues_the_customer(db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db)
    row = queue_row(db, cid)
    assert row is not None and row["version"] == 1 and not row["deleted"]


def test_changes_bump_the_version_of_the_one_pending_row(db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db)
    db.execute("UPDATE customers SET first_name = 'Zed' WHERE id = %s", (cid,))
    db.execute("UPDATE customers SET marketing_opt_in = false WHERE id = %s", (cid,))
    row = queue_row(db, cid)
    assert row is not None and row["version"] == 3 and pending(db) == 1


def test_bookkeeping_columns_do_not_queue(db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db)
    db.execute("DELETE FROM brevo_sync.queue")
    db.execute("UPDATE customers SET brevo_contact_id = 42, updated_at = now() WHERE id = %s",
               (cid,))
    db.execute("UPDATE customers SET first_name = first_name WHERE id = %s", (cid,))
    assert pending(db) == 0


def test_delete_keeps_what_the_push_needs(db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db, email="gone@example.com")
    db.execute("UPDATE customers SET brevo_contact_id = 9 WHERE id = %s", (cid,))
    db.execute("DELETE FROM customers WHERE id = %s", (cid,))
    row = queue_row(db, cid)
    assert row is not None and row["deleted"]
    assert row["deleted_email"] == "gone@example.com" and row["deleted_contact_id"] == 9


def test_notify_only_on_the_idle_to_busy_edge(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as listener, \
            psycopg.connect(database_url, autocommit=True,
                            row_factory=psycopg.rows.dict_row) as app:
        listener.execute("LISTEN brevo_sync")
        add_customer(app)      # armed at start: this one notifies and disarms
        add_customer(app)      # busy: no notification
        first = list(listener.notifies(timeout=0.5))
        assert len(first) == 1 and first[0].payload == ""
        app.execute(q("arm"))
        add_customer(app)
        assert len(list(listener.notifies(timeout=0.5))) == 1


def test_migrations_leave_an_existing_customers_table_alone(databases: Any) -> None:
    """Only missing sync columns are added to an application's own table."""
    from brevo_sync.migrate import migrate

    name = databases.create_empty()
    url = databases.server.url_for(name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE customers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
                         " email text NOT NULL, first_name text, last_name text, phone text,"
                         " marketing_opt_in boolean NOT NULL DEFAULT false, extra text)")
            conn.execute("INSERT INTO customers (email, extra) VALUES ('a@b.co', 'keep')")
        assert migrate(url)
        assert migrate(url) == []  # a second run is a no-op
        with psycopg.connect(url, autocommit=True) as conn:
            cols = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'customers'")}
            assert {"brevo_contact_id", "used_welcome_offer", "extra"} <= cols
            assert conn.execute("SELECT extra FROM customers").fetchone() == ("keep",)
            indexes = conn.execute("SELECT count(*) FROM pg_indexes"
                                   " WHERE tablename = 'customers'").fetchone()
            assert indexes == (1,)  # the primary key only: nothing added to the user's table
    finally:
        databases.drop(name)


def test_concurrent_migrations_do_not_race(databases: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from brevo_sync.migrate import load_migrations, migrate

    name = databases.create_empty()
    url = databases.server.url_for(name)
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: migrate(url), range(4)))
        count = len(load_migrations())
        assert sorted(len(r) for r in results) == [0, 0, 0, count]
    finally:
        databases.drop(name)


def test_a_writer_holding_the_wakeup_flag_does_not_hold_up_other_writers(
        database_url: str, db: psycopg.Connection[Any]) -> None:
    """The first writer after an idle spell clears the flag inside its open transaction; the
    others neither wait for it nor can deadlock with it."""
    db.execute(q("arm"))
    first = psycopg.connect(database_url)  # an open application transaction
    try:
        add_customer(first)
        with psycopg.connect(database_url, autocommit=True,
                             row_factory=psycopg.rows.dict_row) as other:
            other.execute("SET statement_timeout = '2s'")
            add_customer(other)  # raises QueryCanceled if it waits for `first`
        first.commit()
    finally:
        first.close()
    assert pending(db) == 2
