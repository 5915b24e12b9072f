"""The engine against a real PostgreSQL and the Brevo emulator: DESIGN.md's table, row by row."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from brevo_sync.brevo import BrevoClient, RateLimiter
from brevo_sync.engine import Engine
from brevo_sync.wiring import engine_from
from tests.conftest import TEST_API_KEY, TEST_LIST_ID
from tests.factories import add_customer, add_customers, customer, pending, state

pytestmark = pytest.mark.anyio


def contact(store: Any, email: str) -> dict[str, Any]:
    found = store.get_by_email(email)
    assert found is not None, f"{email} is not in Brevo"
    return dict(found)


async def test_opted_in_customer_is_created_with_id_written_back(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    cid = add_customer(db, email="Ada@Example.com", first_name="Ada", last_name="Lovelace",
                       phone="+33 6 12 34 56 78", used_welcome_offer=True)
    report = await engine.drain()
    assert report.synced == 1 and report.failed == 0
    brevo = contact(store, "ada@example.com")
    assert brevo["attributes"] == {"FIRSTNAME": "Ada", "LASTNAME": "Lovelace",
                                   "SMS": "33612345678", "USED_WELCOME_OFFER": True}
    assert brevo["listIds"] == [TEST_LIST_ID]
    assert customer(db, cid)["brevo_contact_id"] == brevo["id"]
    synced = state(db, cid)
    assert synced is not None and synced["status"] == "synced" and synced["last_synced_at"]


async def test_write_back_does_not_queue_the_customer_again(
        db: psycopg.Connection[Any], engine: Engine, brevo_calls: Any) -> None:
    add_customers(db, 3)
    await engine.drain()
    assert pending(db) == 0
    calls = brevo_calls()
    report = await engine.drain()
    assert report.counts.total() == 0 and brevo_calls() == calls


async def test_only_what_differs_is_sent_and_lists_are_kept(
        db: psycopg.Connection[Any], engine: Engine, store: Any, emulator_app: Any) -> None:
    cid = add_customer(db, email="grace@example.com", last_name="Murray")
    await engine.drain()
    store_contact = store.get(customer(db, cid)["brevo_contact_id"])
    other = store.create_list("newsletter", 1).id  # a list the sync knows nothing of
    store.link(store_contact, other)
    await _refresh_mirror_row(db, store, "grace@example.com")
    emulator_app.state.calls.clear()
    db.execute("UPDATE customers SET last_name = 'Hopper' WHERE id = %s", (cid,))
    await engine.drain()
    assert dict(emulator_app.state.calls) == {("PUT", "/v3/contacts/{identifier}", 204): 1}
    brevo = contact(store, "grace@example.com")
    assert brevo["attributes"]["LASTNAME"] == "Hopper"
    assert sorted(brevo["listIds"]) == sorted([other, TEST_LIST_ID])


async def test_email_change_renames_the_contact(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    cid = add_customer(db, email="old@example.com")
    await engine.drain()
    contact_id = customer(db, cid)["brevo_contact_id"]
    db.execute("UPDATE customers SET email = 'New@Example.com' WHERE id = %s", (cid,))
    await engine.drain()
    assert store.get_by_email("old@example.com") is None
    assert contact(store, "new@example.com")["id"] == contact_id
    assert store.count() == 1


async def test_opting_out_blocklists_the_contact(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    cid = add_customer(db, email="out@example.com")
    await engine.drain()
    db.execute("UPDATE customers SET marketing_opt_in = false WHERE id = %s", (cid,))
    await engine.drain()
    assert contact(store, "out@example.com")["emailBlacklisted"] is True
    synced = state(db, cid)
    assert synced is not None and synced["status"] == "removed"
    # Opting in again lifts the sync's own blocklist.
    db.execute("UPDATE customers SET marketing_opt_in = true WHERE id = %s", (cid,))
    await engine.drain()
    assert contact(store, "out@example.com")["emailBlacklisted"] is False


async def test_deleted_customer_leaves_the_list(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    cid = add_customer(db, email="bye@example.com")
    await engine.drain()
    db.execute("DELETE FROM customers WHERE id = %s", (cid,))
    await engine.drain()
    assert contact(store, "bye@example.com")["listIds"] == []
    assert pending(db) == 0


async def test_unsubscribed_in_brevo_is_never_resubscribed(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    cid = add_customer(db, email="unsub@example.com")
    await engine.drain()
    store.update(store.get(customer(db, cid)["brevo_contact_id"]),
                 _patch(email_blacklisted=True))
    await _refresh_mirror_row(db, store, "unsub@example.com")
    db.execute("UPDATE customers SET first_name = 'Later' WHERE id = %s", (cid,))
    await engine.drain()
    brevo = contact(store, "unsub@example.com")
    assert brevo["emailBlacklisted"] is True and brevo["attributes"]["FIRSTNAME"] == "Later"


async def test_change_during_a_push_is_not_lost(
        db: psycopg.Connection[Any], pool: Any, settings: Any, emulator: Any,
        fast_limits: Any, store: Any, database_url: str) -> None:
    """A row changed while its push is in flight stays pending and is pushed again."""
    cid = add_customer(db, email="race@example.com", first_name="Before")
    changed = False

    async def change_then_forward(request: httpx.Request) -> httpx.Response:
        nonlocal changed
        if request.method == "POST" and request.url.path.endswith("/contacts") and not changed:
            changed = True
            async with await psycopg.AsyncConnection.connect(database_url,
                                                             autocommit=True) as conn:
                await conn.execute("UPDATE customers SET first_name = 'After' WHERE id = %s",
                                   (cid,))
        return await inner.handle_async_request(request)

    inner = httpx.ASGITransport(app=emulator)
    client = BrevoClient(TEST_API_KEY, "http://brevo.test/v3",
                         transport=httpx.MockTransport(change_then_forward),
                         limiter=RateLimiter(fast_limits))
    async with client:
        report = await engine_from(settings, pool, client, source="test").drain()
    assert changed and report.counts["ok"] == 2
    assert contact(store, "race@example.com")["attributes"]["FIRSTNAME"] == "After"
    assert pending(db) == 0


async def test_two_drainers_at_once_push_everything_once(
        db: psycopg.Connection[Any], pool: Any, settings: Any, emulator: Any,
        fast_limits: Any, store: Any) -> None:
    ids = add_customers(db, 150)

    async def drainer() -> int:
        client = BrevoClient(TEST_API_KEY, "http://brevo.test/v3",
                             transport=httpx.ASGITransport(app=emulator),
                             limiter=RateLimiter(fast_limits))
        async with client:
            report = await engine_from(settings, pool, client, source="test").drain()
            return int(report.counts["ok"])

    pushed = await asyncio.gather(drainer(), drainer())
    assert sum(pushed) == 150 and all(n > 0 for n in pushed)
    assert store.count() == 150
    written = db.execute("SELECT count(DISTINCT brevo_contact_id) AS n FROM customers"
                         " WHERE id = ANY(%s)", (ids,)).fetchone()
    assert written is not None and written["n"] == 150


async def test_one_invalid_phone_among_100(
        db: psycopg.Connection[Any], engine: Engine, store: Any, brevo_calls: Any) -> None:
    add_customers(db, 99, phone="+442079460958")
    bad = add_customer(db, phone="+1 555 000 0000", email="bad.phone@example.com",
                       first_name="Bea")
    # Every good customer has the same phone: Brevo refuses a duplicate SMS, so all but one
    # go in without it, and say so. A phone Brevo would refuse is left out, and the customer
    # still reaches Brevo for email.
    report = await engine.drain()
    assert report.counts["ok"] == 100 and report.failed == 0
    assert store.count() == 100
    held = contact(store, "bad.phone@example.com")
    assert held["attributes"].get("FIRSTNAME") == "Bea" and "SMS" not in held["attributes"]
    assert held["listIds"] == [TEST_LIST_ID]
    synced = state(db, bad)
    assert synced is not None and synced["status"] == "synced"
    assert synced["sms_withheld_fingerprint"] is not None
    said = db.execute("SELECT message FROM brevo_sync.history WHERE customer_id = %s",
                      (bad,)).fetchone()
    assert said is not None and "'+1 555 000 0000' left out: not a valid phone number" in \
        said["message"]
    assert pending(db) == 0
    calls = brevo_calls()
    await engine.drain()
    assert brevo_calls() == calls, "nothing is pushed again until the row changes"
    db.execute("UPDATE customers SET phone = '+33 6 12 34 56 78' WHERE id = %s", (bad,))
    await engine.drain()
    assert contact(store, "bad.phone@example.com")["attributes"]["SMS"] == "33612345678"


async def test_backlog_goes_through_bulk_import(
        db: psycopg.Connection[Any], engine: Engine, store: Any, emulator_app: Any) -> None:
    ids = add_customers(db, 450)
    garbage = add_customer(db, phone="garbage-phone", email="garbage@example.com")
    report = await engine.drain()
    assert report.bulk_imports >= 1
    # The unreadable phone is left out: that customer is imported too, for email.
    assert report.counts["ok"] == 451 and report.failed == 0
    assert store.count() == 451
    assert "SMS" not in contact(store, "garbage@example.com")["attributes"]
    withheld = state(db, garbage)
    assert withheld is not None and withheld["sms_withheld_fingerprint"] is not None
    missing = db.execute("SELECT count(*) AS n FROM customers WHERE id = ANY(%s)"
                         " AND brevo_contact_id IS NULL", (ids,)).fetchone()
    assert missing is not None and missing["n"] == 0
    single_posts = emulator_app.state.calls[("POST", "/v3/contacts", 201)]
    assert single_posts == 0, "the backlog did not go one call per customer"


@pytest.mark.parametrize("faults", [
    {"error_rate": 0.2},
    {"storm_rate": 0.05, "storm_seconds": 0.3},
])
async def test_faults_are_recovered_without_loss(
        db: psycopg.Connection[Any], engine: Engine, store: Any, emulator_app: Any,
        faults: dict[str, float]) -> None:
    ids = add_customers(db, 40)
    for name, value in faults.items():
        setattr(emulator_app.state.config, name, value)
    deadline = asyncio.get_running_loop().time() + 60
    while pending(db) and asyncio.get_running_loop().time() < deadline:
        await engine.drain()
        # Rows whose every retry failed wait for their backoff; bring them forward.
        db.execute("UPDATE brevo_sync.queue SET next_attempt_at = now()")
    assert pending(db) == 0
    assert store.count() == 40
    written = db.execute("SELECT count(*) AS n FROM customers WHERE id = ANY(%s)"
                         " AND brevo_contact_id IS NOT NULL", (ids,)).fetchone()
    assert written is not None and written["n"] == 40


async def test_bad_input_is_pushed_or_recorded_with_a_reason(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    good = add_customer(db, email="fine@example.com")
    rows = {
        "invalid email": add_customer(db, email="not an email"),
        "null email": add_customer(db, email=None),
        "local phone": add_customer(db, email="local@example.com", phone="06 12 34 56 78"),
        "garbage phone": add_customer(db, email="garbage@example.com", phone="call me"),
        "long name": add_customer(db, email="long@example.com", first_name="x" * 10_000),
        "nulls": add_customer(db, email="nulls@example.com", first_name=None, last_name=None),
        "case twin": add_customer(db, email="FINE@example.com"),
        "non-ascii": add_customer(db, email="zoe@example.com", first_name="Zoë",
                                  last_name="Ødegård-Łukasz 王"),
    }
    await engine.drain()
    assert pending(db) == 0
    assert contact(store, "fine@example.com")["id"] == customer(db, good)["brevo_contact_id"]
    assert contact(store, "zoe@example.com")["attributes"]["LASTNAME"] == "Ødegård-Łukasz 王"
    assert contact(store, "nulls@example.com")["attributes"].get("FIRSTNAME", "") == ""
    for name, cid in rows.items():
        result = state(db, cid)
        assert result is not None, name
        if result["status"] == "error":
            assert result["last_error"], f"{name}: error without a reason"
        else:
            assert result["status"] == "synced", name
    assert state(db, rows["invalid email"])["status"] == "error"  # type: ignore[index]
    assert "FINE@example.com".lower() in str(state(db, rows["case twin"]))
    assert state(db, rows["case twin"])["status"] == "error"  # type: ignore[index]


def _patch(**fields: Any) -> Any:
    from brevo_sync.emulator.store import ContactPatch

    return ContactPatch(**fields)


async def _refresh_mirror_row(db: psycopg.Connection[Any], store: Any, email: str) -> None:
    """What the sweep's mirror refresh would record for one contact."""
    import json

    found = contact(store, email)
    db.execute(
        "UPDATE brevo_sync.contacts SET list_ids = %s, email_blacklisted = %s,"
        " attributes = %s::jsonb WHERE id = %s",
        (found["listIds"], found["emailBlacklisted"], json.dumps(found["attributes"]),
         found["id"]))


async def test_write_back_never_waits_while_holding_rows_the_application_wants(
        db: psycopg.Connection[Any], engine: Engine, database_url: str) -> None:
    """A customer row held by an open application transaction does not hold up the others:
    they are written back at once, and the held one once the application commits."""
    ids = add_customers(db, 300)
    held = ids[150]
    app = psycopg.connect(database_url)  # not autocommit: an open transaction
    try:
        app.execute("UPDATE customers SET updated_at = now() WHERE id = %s", (held,))
        drain = asyncio.create_task(engine.drain())
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            row = db.execute("SELECT count(*) AS n FROM customers"
                             " WHERE brevo_contact_id IS NOT NULL").fetchone()
            if row is not None and row["n"] == 299:
                break
            await asyncio.sleep(0.05)
        assert row is not None and row["n"] == 299, "others waited on the held row"
        assert not drain.done()
        # The application can still take more rows the sync has touched: no deadlock.
        app.execute("UPDATE customers SET updated_at = now() WHERE id = ANY(%s)", (ids[:10],))
        app.commit()
        await asyncio.wait_for(drain, 30)
    finally:
        app.close()
    assert customer(db, held)["brevo_contact_id"] is not None
    assert pending(db) == 0


async def test_admin_push_of_one_customer(
        db: psycopg.Connection[Any], engine: Engine, store: Any) -> None:
    cid = add_customer(db, email="one@example.com")
    db.execute("DELETE FROM brevo_sync.queue")  # not pending: the admin pushes it anyway
    outcome = await engine.push_customer(cid)
    assert outcome is not None and outcome.result == "ok"
    assert outcome.as_json()["brevoId"] == contact(store, "one@example.com")["id"]
    assert await engine.push_customer(uuid.uuid4()) is None
    assert pending(db) == 0


async def test_a_push_that_crashes_backs_off_instead_of_spinning(
        db: psycopg.Connection[Any], pool: Any, settings: Any, fast_limits: Any) -> None:
    cid = add_customer(db)

    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug, not a Brevo error")

    client = BrevoClient(TEST_API_KEY, "http://brevo.test/v3",
                         transport=httpx.MockTransport(broken), limiter=RateLimiter(fast_limits))
    async with client:
        await asyncio.wait_for(engine_from(settings, pool, client, source="test").drain(), 30)
    row = db.execute("SELECT next_attempt_at > now() AS later, claimed_by, last_error"
                     " FROM brevo_sync.queue WHERE customer_id = %s", (cid,)).fetchone()
    assert row is not None and row["later"] and row["claimed_by"] is None
    assert "crashed" in row["last_error"]
