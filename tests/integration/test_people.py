"""Brevo's rules for people (reference §14.4-5), against a real PostgreSQL and the emulator: a
list the person left is never joined again, their own unsubscription is never lifted, an
import's false is made to stick, and a boolean Brevo leaves out is false."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

import psycopg
import pytest

from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.engine import Engine
from brevo_sync.mirror import refresh_mirror, vouch_for_mirror
from brevo_sync.reconcile import SweepResult, run_sweep
from brevo_sync.wiring import engine_from
from tests.conftest import TEST_LIST_ID
from tests.factories import add_customer, add_customers, customer, state

pytestmark = pytest.mark.anyio


async def sweep(settings: Settings, pool: Pool, brevo: BrevoClient) -> SweepResult:
    result = await run_sweep(settings, pool, brevo, source="test")
    assert result.status == "done", result.message
    return result


def held(store: Any, db: psycopg.Connection[Any], cid: UUID) -> Any:
    contact = store.get(customer(db, cid)["brevo_contact_id"])
    assert contact is not None
    return contact


def history(db: psycopg.Connection[Any], cid: UUID) -> list[str]:
    rows = db.execute("SELECT message FROM brevo_sync.history WHERE customer_id = %s ORDER BY id",
                      (cid,)).fetchall()
    return [r["message"] or "" for r in rows]


def opted_in(db: psycopg.Connection[Any], cid: UUID) -> bool:
    return bool(customer(db, cid)["marketing_opt_in"])


@pytest.fixture
def unlisting(settings: Settings) -> Settings:
    """Opting out takes the contact out of the list (instead of blocklisting it)."""
    return dataclasses.replace(settings, opt_out_action="unlist")


async def test_someone_who_left_the_list_is_opted_out_and_never_added_back(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, unlisting: Settings,
        store: Any, emulator_app: Any) -> None:
    emulator_app.state.config.list_unsubscription = True
    cid, other = add_customers(db, 2)
    await sweep(unlisting, pool, brevo)
    store.unsubscribe(held(store, db, cid), TEST_LIST_ID, 1)
    result = await sweep(unlisting, pool, brevo)
    assert result.counts["unsubscribed"] == 1
    assert not opted_in(db, cid) and opted_in(db, other)
    assert f"unsubscribed from list {TEST_LIST_ID} in Brevo" in history(db, cid)[-2]
    # The customer opts in again in the application: the sync sends the row, not the list.
    db.execute("UPDATE customers SET marketing_opt_in = true, first_name = 'Again'"
               " WHERE id = %s", (cid,))
    engine = engine_from(unlisting, pool, brevo, source="test", keep_outcomes=True)
    report = await engine.drain()
    assert report.synced == 1
    contact = held(store, db, cid)
    assert contact.attributes["FIRSTNAME"] == "Again"
    assert TEST_LIST_ID not in contact.list_ids and contact.list_unsubscribed == {TEST_LIST_ID}
    assert "not added back by the sync" in history(db, cid)[-1]
    # Brevo still has them out of the list: the next sweep opts them out again, never re-adds.
    await sweep(unlisting, pool, brevo)
    assert not opted_in(db, cid) and TEST_LIST_ID not in held(store, db, cid).list_ids
    assert TEST_LIST_ID in held(store, db, other).list_ids


async def test_a_contact_the_mirror_has_not_seen_is_asked_before_joining_the_list(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, engine: Engine,
        store: Any, emulator_app: Any) -> None:
    emulator_app.state.config.list_unsubscription = True
    contact_id = await brevo.create_contact("ada@example.com", {}, list_ids=[TEST_LIST_ID])
    store.unsubscribe(store.get(contact_id), TEST_LIST_ID, 1)
    cid = add_customer(db, email="ada@example.com", first_name="Ada")
    report = await engine.drain()
    assert report.synced == 1
    contact = store.get(contact_id)
    assert contact.attributes["FIRSTNAME"] == "Ada" and contact.list_ids == set()
    assert contact.list_unsubscribed == {TEST_LIST_ID}
    assert "not added back by the sync" in history(db, cid)[-1]
    mirrored = db.execute("SELECT list_unsubscribed FROM brevo_sync.contacts WHERE id = %s",
                          (contact_id,)).fetchone()
    assert mirrored is not None and mirrored["list_unsubscribed"] == [TEST_LIST_ID]


async def test_a_backlog_import_leaves_out_whoever_left_the_list(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, engine: Engine,
        store: Any, emulator_app: Any) -> None:
    emulator_app.state.config.list_unsubscription = True
    ids = add_customers(db, 250)
    assert (await engine.drain()).bulk_imports >= 1
    left = ids[:3]
    for cid in left:
        store.unsubscribe(held(store, db, cid), TEST_LIST_ID, 1)
    await refresh_mirror(pool, brevo)
    db.execute("UPDATE customers SET last_name = 'Renamed'")
    report = await engine.drain()
    assert report.bulk_imports >= 1 and report.failed == 0
    for cid in ids:
        contact = held(store, db, cid)
        assert contact.attributes["LASTNAME"] == "Renamed"
        assert (TEST_LIST_ID in contact.list_ids) is (cid not in left)


async def test_the_persons_own_unsubscription_is_never_lifted(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, engine: Engine,
        settings: Settings, store: Any) -> None:
    cid, other = add_customers(db, 2)
    await engine.drain()
    db.execute("UPDATE customers SET marketing_opt_in = false")
    await engine.drain()
    assert held(store, db, cid).email_blacklisted  # the sync's own opt-out
    # Meanwhile the person unsubscribed with a campaign's link: Brevo records it as theirs.
    store.unsubscribe(held(store, db, cid), None, 9)
    db.execute("UPDATE customers SET marketing_opt_in = true")
    report = await engine.drain()
    assert report.synced == 2 and report.failed == 0
    assert held(store, db, cid).email_blacklisted, "the person's own unsubscription was lifted"
    assert not held(store, db, other).email_blacklisted, "the sync's own blocklist is lifted"
    assert "kept blocklisted, never lifted by the sync" in history(db, cid)[-1]
    kept = state(db, cid)
    assert kept is not None and kept["removed_by_sync"] is None
    # No longer the sync's blocklist: the sweep brings the unsubscription back into the table.
    await sweep(settings, pool, brevo)
    assert not opted_in(db, cid) and opted_in(db, other)


async def test_a_false_over_a_true_is_made_to_stick_when_imports_keep_the_true(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, engine: Engine,
        settings: Settings, store: Any, emulator_app: Any) -> None:
    emulator_app.state.config.import_false_keeps_true = True
    ids = add_customers(db, 220, used_welcome_offer=True)
    assert (await engine.drain()).bulk_imports >= 1
    await refresh_mirror(pool, brevo)
    db.execute("UPDATE customers SET used_welcome_offer = false WHERE id = ANY(%s)", (ids[:210],))
    report = await engine.drain()
    assert report.failed == 0
    offers = [held(store, db, cid).attributes["USED_WELCOME_OFFER"] for cid in ids]
    assert offers == [False] * 210 + [True] * 10
    assert (await run_sweep(settings, pool, brevo, source="test")).counts["queued"] == 0


async def test_a_boolean_brevo_leaves_out_is_false(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, engine: Engine,
        settings: Settings, store: Any, brevo_calls: Any) -> None:
    cid = add_customer(db, used_welcome_offer=False)
    await engine.drain()
    contact = held(store, db, cid)
    del contact.attributes["USED_WELCOME_OFFER"]
    store.touch(contact)
    result = await run_sweep(settings, pool, brevo, source="test")
    assert result.counts["drift"]["attributes"] == 0 and result.counts["queued"] == 0
    db.execute("UPDATE customers SET first_name = 'Changed' WHERE id = %s", (cid,))
    before = brevo_calls()
    await engine.drain()
    assert brevo_calls() - before == 1
    assert "USED_WELCOME_OFFER" not in held(store, db, cid).attributes


async def test_a_phone_left_out_is_shown_on_the_customers_row(
        db: psycopg.Connection[Any], engine: Engine, http: Any) -> None:
    add_customer(db, email="ada@example.com", phone="+1 555 0100")
    assert (await engine.drain()).synced == 1
    rows = (await http.get("/api/admin/views/matched")).json()["rows"]
    assert [(r["status"], r["differs"], r["notes"]) for r in rows] == [
        ("in_sync", [], ["phone '+1 555 0100' left out: not a valid phone number; pushed"
                         " without it"])]
    page = await http.get("/admin/clients", params={"view": "matched"})
    assert "left out: not a valid phone number" in page.text


async def test_a_new_customer_joins_the_list_in_one_call(
        db: psycopg.Connection[Any], engine: Engine, store: Any, brevo_calls: Any,
        emulator_app: Any) -> None:
    """Only an email Brevo turns out to hold already is asked about before joining the list."""
    emulator_app.state.config.list_unsubscription = True
    await vouch_for_mirror(engine.pool, engine.client)  # once a process, not a customer
    cid = add_customer(db)
    before = brevo_calls()
    assert (await engine.drain()).synced == 1
    assert brevo_calls() - before == 1
    assert held(store, db, cid).list_ids == {TEST_LIST_ID}
