"""The reconciliation sweep against a real PostgreSQL and the Brevo emulator: each kind of drift
is found and repaired, Brevo unsubscribes flow back, and the safeguard stops a mass removal."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from brevo_sync.brevo import BrevoClient, Contact
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.mirror import refresh_mirror, upsert_contacts
from brevo_sync.reconcile import SweepResult, run_sweep
from brevo_sync.unsubscribes import reflect_unsubscribes
from tests.conftest import TEST_LIST_ID
from tests.factories import add_customer, add_customers, customer, pending, state

pytestmark = pytest.mark.anyio


def missed(db: psycopg.Connection[Any]) -> None:
    """Forget the queue: the changes so far were lost, only a sweep can find them."""
    db.execute("DELETE FROM brevo_sync.queue")


def brevo_contact(store: Any, db: psycopg.Connection[Any], cid: UUID) -> Any:
    contact_id = customer(db, cid)["brevo_contact_id"]
    assert contact_id is not None, "the customer was never pushed"
    found = store.get(contact_id)
    assert found is not None, f"contact {contact_id} is not in Brevo"
    return found


async def sweep(settings: Settings, pool: Pool, brevo: BrevoClient, **kw: Any) -> SweepResult:
    return await run_sweep(settings, pool, brevo, source="test", **kw)


async def synced(settings: Settings, pool: Pool, brevo: BrevoClient,
                 db: psycopg.Connection[Any], count: int = 1, **fields: Any) -> list[UUID]:
    """Customers already in Brevo, as a first sweep leaves them."""
    ids = add_customers(db, count, **fields)
    result = await sweep(settings, pool, brevo)
    assert result.status == "done" and result.failed == 0, result.message
    return ids


async def test_first_sweep_creates_every_missing_contact(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    ids = add_customers(db, 3)
    add_customer(db, marketing_opt_in=False)
    missed(db)
    result = await sweep(settings, pool, brevo)
    assert (result.status, result.synced, result.failed, result.total, result.remaining) == \
        ("done", 3, 0, 3, 0)
    assert result.counts["drift"]["missing"] == 3
    assert {r["customerId"] for r in result.results} == {str(i) for i in ids}
    assert all(r["success"] and r["brevoId"] for r in result.results)
    for cid in ids:
        assert TEST_LIST_ID in brevo_contact(store, db, cid).list_ids
    assert store.count() == 3
    run = db.execute("SELECT * FROM brevo_sync.runs WHERE id = %s", (result.run_id,)).fetchone()
    assert run is not None and run["kind"] == "reconcile" and run["status"] == "done"
    assert run["source"] == "test" and run["finished_at"] is not None
    assert run["counts"]["synced"] == 3 and run["counts"]["remaining"] == 0


async def test_a_sweep_without_drift_changes_nothing_and_costs_two_calls(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        brevo_calls: Any) -> None:
    await synced(settings, pool, brevo, db, 3)
    before = brevo_calls()
    result = await sweep(settings, pool, brevo)
    assert result.status == "done" and result.counts["queued"] == 0
    assert result.synced == 0 and result.results == []
    # Brevo's total count, then the contacts modified since the last listing.
    assert brevo_calls() - before == 2 == result.counts["brevo_calls"]
    assert result.counts["mirror"]["full"] is False


async def test_an_attribute_changed_in_brevo_is_set_back(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    [cid] = await synced(settings, pool, brevo, db, first_name="Ada")
    contact = brevo_contact(store, db, cid)
    await brevo.update_contact(contact.id, attributes={"FIRSTNAME": "Someone else"})
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift"]["attributes"] == 1 and result.synced == 1
    assert brevo_contact(store, db, cid).attributes["FIRSTNAME"] == "Ada"


async def test_a_change_that_never_reached_the_queue_is_pushed(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    [cid] = await synced(settings, pool, brevo, db, phone="+33 6 12 34 56 78")
    db.execute("UPDATE customers SET last_name = 'Hopper', phone = NULL,"
               " used_welcome_offer = true WHERE id = %s", (cid,))
    missed(db)
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift"]["attributes"] == 1
    attributes = brevo_contact(store, db, cid).attributes
    assert attributes["LASTNAME"] == "Hopper" and attributes["USED_WELCOME_OFFER"] is True
    assert "SMS" not in attributes


async def test_a_national_phone_number_is_not_drift(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    """Brevo holds 33612345678 for "06 12 34 56 78" in France: the same number."""
    settings = dataclasses.replace(settings, phone_default_region="FR")
    [cid] = await synced(settings, pool, brevo, db, phone="06 12 34 56 78")
    assert brevo_contact(store, db, cid).attributes["SMS"] == "33612345678"
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift_found"] == 0


async def test_a_phone_brevo_refused_as_another_contacts_is_not_retried_every_sweep(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    """Pushed without its SMS (another contact holds the number), a customer is not drift
    again until the row changes."""
    first, second = await synced(settings, pool, brevo, db, 2, phone="+33612345678")
    held = [c for c in (first, second) if "SMS" in brevo_contact(store, db, c).attributes]
    assert len(held) == 1
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift_found"] == 0
    [withheld] = {first, second} - set(held)
    db.execute("UPDATE customers SET phone = '+33698765432' WHERE id = %s", (withheld,))
    missed(db)
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift"]["attributes"] == 1
    assert brevo_contact(store, db, withheld).attributes["SMS"] == "33698765432"


async def test_a_contact_taken_out_of_the_list_is_put_back(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    [cid] = await synced(settings, pool, brevo, db)
    await brevo.remove_from_list(TEST_LIST_ID, ids=[brevo_contact(store, db, cid).id])
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift"]["list"] == 1 and result.synced == 1
    assert TEST_LIST_ID in brevo_contact(store, db, cid).list_ids


async def test_an_opted_out_customer_still_subscribed_is_blocklisted(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    [cid, _] = await synced(settings, pool, brevo, db, 2)
    db.execute("UPDATE customers SET marketing_opt_in = false WHERE id = %s", (cid,))
    missed(db)
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift"]["opted_out"] == 1 and result.synced == 1
    assert brevo_contact(store, db, cid).email_blacklisted
    remembered = state(db, cid)
    assert remembered is not None and remembered["removed_by_sync"] == "blocklist"
    # The sync's own blocklisting is not an unsubscribe to reflect back.
    again = await sweep(settings, pool, brevo)
    assert again.counts["unsubscribed"] == 0 and again.counts["drift_found"] == 0


async def test_a_deleted_customer_still_in_the_list_is_taken_out(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    [cid, _] = await synced(settings, pool, brevo, db, 2)
    contact_id = customer(db, cid)["brevo_contact_id"]
    db.execute("DELETE FROM customers WHERE id = %s", (cid,))
    missed(db)
    result = await sweep(settings, pool, brevo)
    assert result.counts["drift"]["deleted"] == 1 and result.synced == 1
    assert TEST_LIST_ID not in store.get(contact_id).list_ids  # default action: unlist
    assert (await sweep(settings, pool, brevo)).counts["drift_found"] == 0


async def test_the_mirror_notices_a_contact_deleted_in_brevo_and_it_is_created_again(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    [cid, _] = await synced(settings, pool, brevo, db, 2)
    old = brevo_contact(store, db, cid)
    store.delete(old)
    result = await sweep(settings, pool, brevo)
    mirror = result.counts["mirror"]
    assert mirror["full"] is True and "Brevo 1" in mirror["reason"] and mirror["pruned"] == 1
    assert result.counts["drift"]["missing"] == 1 and result.synced == 1
    again = brevo_contact(store, db, cid)
    assert again.id != old.id and again.email == old.email
    assert (await sweep(settings, pool, brevo)).counts["mirror"]["full"] is False


async def test_an_unsubscribe_in_brevo_opts_the_customer_out_for_good(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any, emulator: Any) -> None:
    [cid] = await synced(settings, pool, brevo, db, first_name="Ada")
    contact_id = customer(db, cid)["brevo_contact_id"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator),
                                 base_url="http://brevo.test") as control:
        answer = await control.post(f"/_emulator/contacts/{contact_id}/blocklist")
        assert answer.status_code == 200
    result = await sweep(settings, pool, brevo)
    assert result.counts["unsubscribed"] == 1
    assert customer(db, cid)["marketing_opt_in"] is False
    logged = db.execute("SELECT * FROM brevo_sync.history WHERE customer_id = %s"
                        " AND action = 'unsubscribe'", (cid,)).fetchall()
    assert len(logged) == 1 and logged[0]["source"] == "test"
    assert logged[0]["run_id"] == result.run_id and logged[0]["brevo_contact_id"] == contact_id

    # A later change to the customer pushes nothing that re-subscribes the contact.
    db.execute("UPDATE customers SET first_name = 'Ada B' WHERE id = %s", (cid,))
    await sweep(settings, pool, brevo)
    assert store.get(contact_id).email_blacklisted
    assert customer(db, cid)["marketing_opt_in"] is False
    # Opted in again here: Brevo keeps the contact blocklisted, so the sweep says so again.
    db.execute("UPDATE customers SET marketing_opt_in = true WHERE id = %s", (cid,))
    again = await sweep(settings, pool, brevo)
    assert store.get(contact_id).email_blacklisted
    assert customer(db, cid)["marketing_opt_in"] is False and again.counts["unsubscribed"] == 1


async def test_the_safeguard_stops_a_mass_removal_before_acting(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any, brevo_calls: Any) -> None:
    ids = await synced(settings, pool, brevo, db, 20)
    db.execute("DELETE FROM customers WHERE id = ANY(%s)", (ids[:6],))
    add_customer(db)  # a creation waits too: the sweep does not act at all
    missed(db)
    before = brevo_calls()
    result = await sweep(settings, pool, brevo)
    assert result.status == "refused" and not result.success
    assert result.refused is not None and "6 of 20" in result.refused
    assert result.as_json()["refused"] == result.refused
    assert brevo_calls() - before == 2  # the mirror's listing only
    assert all(TEST_LIST_ID in c["listIds"] for c in store.contacts()) and store.count() == 20
    assert pending(db) == 0
    run = db.execute("SELECT status, message FROM brevo_sync.runs WHERE id = %s",
                     (result.run_id,)).fetchone()
    assert run == {"status": "refused", "message": result.refused}
    # Raised on purpose for one run, the removals go through.
    allowed = dataclasses.replace(settings, removal_guard_share=0.5)
    assert (await sweep(allowed, pool, brevo)).synced == 7


async def test_a_row_that_failed_for_good_is_retried_only_once_it_changes(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    cid = add_customer(db, email="ada@example")
    missed(db)
    first = await sweep(settings, pool, brevo)
    assert first.failed == 1 and not first.success
    assert first.results[0]["reason"] and not first.results[0]["success"]
    assert (await sweep(settings, pool, brevo)).counts["queued"] == 0
    db.execute("UPDATE customers SET email = 'ada@example.com' WHERE id = %s", (cid,))
    missed(db)
    fixed = await sweep(settings, pool, brevo)
    assert fixed.counts["queued"] == 1 and fixed.synced == 1
    assert brevo_contact(store, db, cid).email == "ada@example.com"


async def test_a_phone_brevo_would_refuse_is_left_out_and_is_not_drift(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    cid = add_customer(db, phone="+33 1")
    missed(db)
    first = await sweep(settings, pool, brevo)
    assert first.synced == 1 and first.failed == 0 and first.success
    assert "left out" in (first.results[0]["message"] or "")
    assert "SMS" not in brevo_contact(store, db, cid).attributes
    again = await sweep(settings, pool, brevo)
    assert again.counts["queued"] == 0, "a phone left out is not drift until the row changes"
    db.execute("UPDATE customers SET phone = '+33 6 12 34 56 78' WHERE id = %s", (cid,))
    missed(db)
    fixed = await sweep(settings, pool, brevo)
    assert fixed.counts["queued"] == 1 and fixed.synced == 1
    assert brevo_contact(store, db, cid).attributes["SMS"] == "33612345678"



async def test_a_mass_blocklisting_in_brevo_is_not_copied_into_the_table(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    """An accident on Brevo's side must not opt every customer out of the source of truth."""
    ids = await synced(settings, pool, brevo, db, 10)
    for cid in ids[:6]:
        contact = brevo_contact(store, db, cid)
        contact.email_blacklisted = True
        store.touch(contact)
    result = await sweep(settings, pool, brevo)
    assert result.status == "refused" and result.refused is not None
    assert "6 of 10" in result.refused and "blocklisted" in result.refused
    assert all(customer(db, cid)["marketing_opt_in"] for cid in ids)
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.history"
                      " WHERE action = 'unsubscribe'").fetchone() == {"n": 0}
    allowed = dataclasses.replace(settings, removal_guard_share=1.0)
    assert (await sweep(allowed, pool, brevo)).counts["unsubscribed"] == 6
    assert sum(not customer(db, cid)["marketing_opt_in"] for cid in ids) == 6


async def test_opting_out_never_holds_a_customer_hostage_to_another_ones_lock(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any, database_url: str) -> None:
    """A batch that meets an application's lock gives up at once and goes row by row: the
    other customers are opted out (and free for the application) while one row is locked."""
    first, last = sorted(await synced(settings, pool, brevo, db, 2))
    for cid in (first, last):
        contact = brevo_contact(store, db, cid)
        contact.email_blacklisted = True
        store.touch(contact)
    await refresh_mirror(pool, brevo)
    with psycopg.connect(database_url) as app:  # an application transaction, left open
        app.execute("UPDATE customers SET first_name = 'Busy' WHERE id = %s", (last,))
        task = asyncio.create_task(reflect_unsubscribes(pool, source="test"))
        await eventually(lambda: not customer(db, first)["marketing_opt_in"])
        assert customer(db, last)["marketing_opt_in"] and not task.done()
        app.commit()
        assert await task == 2
    assert not customer(db, last)["marketing_opt_in"]
    assert customer(db, last)["first_name"] == "Busy"


async def eventually(condition: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.02)


async def test_a_page_listed_before_a_push_does_not_undo_it(pool: Any, database_url: str) -> None:
    """A mirror page fetched before a push was recorded is older news than the push."""
    fetched_at = datetime.now(UTC) - timedelta(seconds=5)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO brevo_sync.contacts (id, email, email_blacklisted, seen_at)"
                     " VALUES (7, 'ada@example.com', false, now())")
    stale = Contact(id=7, email="old@example.com", attributes={}, list_ids=[],
                    email_blacklisted=True, sms_blacklisted=False,
                    created_at=fetched_at, modified_at=fetched_at)
    await upsert_contacts(pool, [stale], fetched_at=fetched_at)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT email, email_blacklisted FROM brevo_sync.contacts"
                           " WHERE id = 7").fetchone()
    assert row == ("ada@example.com", False)
    await upsert_contacts(pool, [stale], fetched_at=datetime.now(UTC) + timedelta(seconds=5))
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT email, email_blacklisted FROM brevo_sync.contacts"
                           " WHERE id = 7").fetchone()
    assert row == ("old@example.com", True)
