"""Identity before every write by id, against a real PostgreSQL and the emulator standing for
another Brevo account: stored ids that name other people's contacts are never written to."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from brevo_sync.brevo import BrevoClient, RateLimiter, RateLimits
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.devrun import forget_old_account
from brevo_sync.emulator.store import ContactPatch
from brevo_sync.engine import Engine
from brevo_sync.identity import claim_of
from brevo_sync.migrate import migrate
from brevo_sync.mirror import refresh_mirror
from brevo_sync.reconcile import run_sweep
from brevo_sync.rows import Customer, QueueItem
from brevo_sync.stale_ids import check_stored_ids
from brevo_sync.wiring import engine_from
from tests.conftest import TEST_API_KEY, TEST_LIST_ID
from tests.factories import add_customer, customer, pending, state

pytestmark = pytest.mark.anyio

GET_BY_ID = ("GET", "/v3/contacts/{identifier}", 200)


def add_strangers(store: Any, count: int) -> dict[int, dict[str, Any]]:
    """Another account's own people, created straight in the emulator: ids 1, 2, 3…"""
    for i in range(count):
        store.create(ContactPatch(identifiers={"email": f"stranger{i}@elsewhere.example"},
                                  attributes={"FIRSTNAME": f"Stranger{i}"},
                                  add_lists=[TEST_LIST_ID]))
    return {c["id"]: c for c in store.contacts()}


def give_stored_id(db: psycopg.Connection[Any], cid: uuid.UUID, contact_id: int) -> None:
    """What an earlier push in another account left: the id on the row and in sync_state."""
    email = customer(db, cid)["email"]
    db.execute("UPDATE customers SET brevo_contact_id = %s WHERE id = %s", (contact_id, cid))
    db.execute("INSERT INTO brevo_sync.sync_state (customer_id, email, brevo_contact_id, status,"
               " pushed_email) VALUES (%s, lower(%s), %s, 'synced', lower(%s))",
               (cid, email, contact_id, email))


def forgotten(db: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return db.execute("SELECT customer_id, brevo_contact_id, message FROM brevo_sync.history"
                      " WHERE action = 'forget_id' ORDER BY id").fetchall()


def strangers_now(store: Any, before: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {i: store.get(i).as_json() if store.get(i) else None for i in before}


async def test_ids_from_another_account_never_overwrite_its_people(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    """20 customers hold ids that, in this account, name 25 strangers: no stranger is
    touched, every customer gets a contact of their own, and each id change is recorded."""
    strangers = add_strangers(store, 25)
    customers = [add_customer(db) for _ in range(20)]
    for n, cid in enumerate(customers, start=1):
        give_stored_id(db, cid, n)
    report = await engine.drain()
    assert report.synced == 20 and report.failed == 0 and pending(db) == 0
    assert strangers_now(store, strangers) == strangers
    for cid in customers:
        row = customer(db, cid)
        assert store.get(row["brevo_contact_id"]).email == row["email"].lower()
        assert state(db, cid)["brevo_contact_id"] == row["brevo_contact_id"]  # type: ignore[index]
    assert store.count() == 45
    notes = forgotten(db)
    assert sorted(n["brevo_contact_id"] for n in notes) == list(range(1, 21))
    assert all("another person's email" in n["message"] for n in notes)


def restore_old_mirror(db: psycopg.Connection[Any], cid: uuid.UUID) -> None:
    """The old account's mirror, restored with the database: the customer under their id."""
    row = customer(db, cid)
    db.execute("INSERT INTO brevo_sync.contacts (id, email, attributes, list_ids)"
               " VALUES (%s, lower(%s), '{}', '{2}')", (row["brevo_contact_id"], row["email"]))
    db.execute("UPDATE brevo_sync.mirror_state SET watermark = now(), brevo_count = 1,"
               " last_full_refresh_at = now(), account_mark = '1@2025-01-01T00:00:00+00:00'")


async def test_a_mirror_restored_from_another_account_is_not_believed(
        db: psycopg.Connection[Any], engine: Engine, store: Any, emulator_app: Any) -> None:
    """The listener's first push sees the mirror was listed in another account: it is
    emptied, and whose contact each id names is asked of this account."""
    strangers = add_strangers(store, 3)
    ada = add_customer(db, email="ada@example.com")
    give_stored_id(db, ada, 2)
    restore_old_mirror(db, ada)
    await engine.drain()
    assert strangers_now(store, strangers) == strangers
    assert store.get(customer(db, ada)["brevo_contact_id"]).email == "ada@example.com"
    assert [n["brevo_contact_id"] for n in forgotten(db)] == [2]
    mirror = db.execute("SELECT account_mark, watermark FROM brevo_sync.mirror_state").fetchone()
    assert mirror is not None and mirror["watermark"] is None, "the next refresh lists all"
    assert mirror["account_mark"].startswith("1@")
    assert mirror["account_mark"] != "1@2025-01-01T00:00:00+00:00"


async def test_a_mirror_of_this_account_is_believed_after_one_call(
        db: psycopg.Connection[Any], engine: Engine, pool: Pool, brevo: BrevoClient,
        settings: Settings, emulator: Any, emulator_app: Any, fast_limits: RateLimits) -> None:
    """A new process finds the mirror listed in this account: it is kept, at the cost of
    one call for the whole process."""
    ada = add_customer(db, email="ada@example.com", last_name="Before")
    await engine.drain()
    await refresh_mirror(pool, brevo)
    mark = db.execute("SELECT account_mark FROM brevo_sync.mirror_state").fetchone()
    emulator_app.state.calls.clear()
    async with BrevoClient(TEST_API_KEY, "http://brevo.test/v3",
                           transport=httpx.ASGITransport(app=emulator),
                           limiter=RateLimiter(fast_limits)) as client:
        other = engine_from(settings, pool, client, source="test")
        db.execute("UPDATE customers SET last_name = 'After' WHERE id = %s", (ada,))
        await other.drain()
        db.execute("UPDATE customers SET last_name = 'Later' WHERE id = %s", (ada,))
        await other.drain()
    assert dict(emulator_app.state.calls) == {("GET", "/v3/contacts", 200): 1,
                                              ("PUT", "/v3/contacts/{identifier}", 204): 2}
    assert db.execute("SELECT account_mark FROM brevo_sync.mirror_state").fetchone() == mark
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.contacts").fetchone() == {"n": 1}


async def test_the_mirror_tells_whose_contact_it_is_without_asking_brevo(
        db: psycopg.Connection[Any], engine: Engine, store: Any, pool: Pool,
        brevo: BrevoClient, emulator_app: Any) -> None:
    """After a mirror refresh of this account, stale ids are found without a GET by id."""
    strangers = add_strangers(store, 3)
    cid = add_customer(db, email="ada@example.com")
    give_stored_id(db, cid, 2)
    await refresh_mirror(pool, brevo)
    emulator_app.state.calls.clear()
    await engine.drain()
    assert GET_BY_ID not in emulator_app.state.calls
    assert strangers_now(store, strangers) == strangers
    assert store.get(customer(db, cid)["brevo_contact_id"]).email == "ada@example.com"
    assert [n["brevo_contact_id"] for n in forgotten(db)] == [2]


async def test_a_sweep_neither_alters_strangers_nor_takes_their_unsubscribes_for_ours(
        db: psycopg.Connection[Any], settings: Settings, pool: Pool, brevo: BrevoClient,
        store: Any) -> None:
    """A restored database and its mirror from the old account: the sweep's refresh learns
    who holds the ids now; a stranger's unsubscribe does not opt our customer out."""
    cid = add_customer(db, email="ada@example.com")
    await run_sweep(settings, pool, brevo, source="test")
    old_id = customer(db, cid)["brevo_contact_id"]
    store.reset()
    strangers = add_strangers(store, 3)
    store.get(old_id).email_blacklisted = True
    strangers = {i: store.get(i).as_json() for i in strangers}
    result = await run_sweep(settings, pool, brevo, source="test")
    assert result.status == "done" and result.failed == 0 and result.counts["unsubscribed"] == 0
    assert customer(db, cid)["marketing_opt_in"] is True
    assert strangers_now(store, strangers) == strangers
    assert store.get(customer(db, cid)["brevo_contact_id"]).email == "ada@example.com"
    assert [n["brevo_contact_id"] for n in forgotten(db)] == [old_id]


async def test_an_id_the_mirror_does_not_know_is_checked_once_then_used(
        db: psycopg.Connection[Any], engine: Engine, store: Any, emulator_app: Any) -> None:
    """A valid id unknown to the mirror: one GET, then only what differs is sent by id."""
    cid = add_customer(db, email="grace@example.com", last_name="Murray")
    await engine.drain()
    contact_id = customer(db, cid)["brevo_contact_id"]
    db.execute("DELETE FROM brevo_sync.contacts")
    emulator_app.state.calls.clear()
    db.execute("UPDATE customers SET last_name = 'Hopper' WHERE id = %s", (cid,))
    await engine.drain()
    assert dict(emulator_app.state.calls) == {GET_BY_ID: 1,
                                              ("PUT", "/v3/contacts/{identifier}", 204): 1}
    assert customer(db, cid)["brevo_contact_id"] == contact_id
    assert store.get(contact_id).attributes["LASTNAME"] == "Hopper"
    assert forgotten(db) == []


async def test_an_email_change_renames_by_id_when_the_contact_holds_the_pushed_email(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    """With the mirror empty, the contact holding the last-pushed email is renamed by id."""
    cid = add_customer(db, email="old@example.com")
    await engine.drain()
    contact_id = customer(db, cid)["brevo_contact_id"]
    db.execute("DELETE FROM brevo_sync.contacts")
    db.execute("UPDATE customers SET email = 'new@example.com' WHERE id = %s", (cid,))
    await engine.drain()
    assert store.get(contact_id).email == "new@example.com" and store.count() == 1
    assert forgotten(db) == []


async def test_a_contact_gone_from_the_account_is_forgotten_and_created_again(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    cid = add_customer(db, email="ada@example.com")
    give_stored_id(db, cid, 99)
    await engine.drain()
    assert store.get(customer(db, cid)["brevo_contact_id"]).email == "ada@example.com"
    notes = forgotten(db)
    assert len(notes) == 1 and "not in this Brevo account" in notes[0]["message"]


async def test_an_opt_out_never_blocklists_a_stranger(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    """The customer's own contact is blocklisted, found by email; the stranger is untouched."""
    strangers = add_strangers(store, 2)
    own = store.create(ContactPatch(identifiers={"email": "out@example.com"},
                                    add_lists=[TEST_LIST_ID])).id
    cid = add_customer(db, email="out@example.com", marketing_opt_in=False)
    give_stored_id(db, cid, 1)
    await engine.drain()
    assert strangers_now(store, strangers) == strangers
    assert store.get(own).email_blacklisted is True
    assert [n["brevo_contact_id"] for n in forgotten(db)] == [1]


async def test_a_deletion_never_unlists_a_stranger(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    strangers = add_strangers(store, 2)
    cid = add_customer(db, email="bye@example.com")
    give_stored_id(db, cid, 2)
    db.execute("DELETE FROM customers WHERE id = %s", (cid,))
    await engine.drain()
    assert strangers_now(store, strangers) == strangers
    assert pending(db) == 0 and [n["brevo_contact_id"] for n in forgotten(db)] == [2]


async def test_a_contact_taken_over_by_email_is_forgotten_by_its_stale_holder(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    """Bea's push finds her contact by email; Al held its id wrongly: he loses it, is
    queued, and gets his own contact. No two customers ever hold one id."""
    bea_contact = store.create(ContactPatch(identifiers={"email": "bea@example.com"})).id
    al = add_customer(db, email="al@example.com")
    give_stored_id(db, al, bea_contact)
    db.execute("DELETE FROM brevo_sync.queue")  # Al is not due: nothing checks his id now
    bea = add_customer(db, email="bea@example.com")
    await engine.drain()
    assert customer(db, bea)["brevo_contact_id"] == bea_contact
    al_contact = customer(db, al)["brevo_contact_id"]
    assert al_contact not in (None, bea_contact)
    assert store.get(al_contact).email == "al@example.com"
    notes = forgotten(db)
    assert [(n["customer_id"], n["brevo_contact_id"]) for n in notes] == [(al, bea_contact)]
    assert str(bea) in notes[0]["message"]


async def test_the_database_refuses_a_contact_id_held_twice(
        db: psycopg.Connection[Any]) -> None:
    a, b = add_customer(db), add_customer(db)
    give_stored_id(db, a, 5)
    with pytest.raises(psycopg.errors.UniqueViolation):
        give_stored_id(db, b, 5)


def test_the_migration_forgets_ids_held_twice_in_an_existing_database(
        db: psycopg.Connection[Any], database_url: str) -> None:
    """A database from before the unique index, with an id held twice: 007 still applies."""
    db.execute("DROP INDEX brevo_sync.sync_state_brevo_contact_id_key")
    db.execute("ALTER TABLE brevo_sync.mirror_state DROP COLUMN account_mark")
    db.execute("DELETE FROM brevo_sync.schema_migrations WHERE version = 7")
    a, b, c = add_customer(db), add_customer(db), add_customer(db)
    db.execute("DELETE FROM brevo_sync.queue")
    for cid, contact_id in ((a, 5), (b, 5), (c, 6)):
        give_stored_id(db, cid, contact_id)
    assert migrate(database_url) == ["007_one_holder_per_contact.sql"]
    assert [customer(db, x)["brevo_contact_id"] for x in (a, b, c)] == [None, None, 6]
    assert state(db, a)["brevo_contact_id"] is None  # type: ignore[index]
    queued = {r["customer_id"] for r in db.execute("SELECT customer_id FROM brevo_sync.queue")}
    assert queued == {a, b}
    assert sorted(n["customer_id"] for n in forgotten(db)) == sorted([a, b])
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("UPDATE brevo_sync.sync_state SET brevo_contact_id = 6"
                   " WHERE customer_id = %s", (a,))


async def test_dev_over_a_kept_database_forgets_the_old_emulator(
        db: psycopg.Connection[Any], engine: Engine, store: Any, database_url: str) -> None:
    """`brevo-sync dev` starts an empty emulator: the ids and the mirror of the last one are
    forgotten and opted-in customers queued, so the new one receives them."""
    ada, out = add_customer(db), add_customer(db, marketing_opt_in=False)
    await engine.drain()
    store.reset()
    add_strangers(store, 3)  # the new emulator's first contacts take the old ids
    said: list[str] = []
    forget_old_account(database_url, said.append)
    assert customer(db, ada)["brevo_contact_id"] is None
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.contacts").fetchone() == {"n": 0}
    assert {r["customer_id"] for r in db.execute("SELECT customer_id FROM brevo_sync.queue")} \
        == {ada} and out
    assert said and "forgot the 1 contact ids" in said[0]
    await engine.drain()
    assert store.get(customer(db, ada)["brevo_contact_id"]).email == \
        customer(db, ada)["email"].lower()
    assert forgotten(db) == []


async def test_lookups_past_the_batch_allowance_wait_for_the_next_round(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, store: Any) -> None:
    """A batch asks Brevo about a bounded number of ids, so its lease is never outlived;
    customers past the allowance are neither checked nor forgotten now."""
    add_strangers(store, 3)
    ids = [add_customer(db) for _ in range(3)]
    claims = []
    for n, cid in enumerate(ids, start=1):
        give_stored_id(db, cid, n)
        row = customer(db, cid)
        claims.append((claim_of(QueueItem(cid, 1), Customer(cid, row["email"],
                                                            brevo_contact_id=n), None), None))
    checked = await check_stored_ids(pool, brevo, claims, slots=asyncio.Semaphore(4),
                                     source="test", max_lookups=2)
    assert checked.asked == 2 and checked.deferred == {ids[2]} and not checked.failed
    assert [f.customer_id for f in checked.forgotten] == ids[:2]
    assert customer(db, ids[2])["brevo_contact_id"] == 3
