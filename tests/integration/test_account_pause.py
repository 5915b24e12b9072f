"""Brevo refusing the account (401 revoked key or unauthorised IP, 402, 403) pauses pushing:
rows stay pending and untouched, the pause is recorded once and shown, and pushing resumes
when Brevo answers again. Real Postgres, the emulator's switches."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from structlog.testing import capture_logs

from brevo_sync.brevo import BrevoAccountError, BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool, connect
from brevo_sync.engine import Engine
from brevo_sync.migrate import migrate
from brevo_sync.pause import AccountPause
from brevo_sync.status import read_status
from tests.conftest import TEST_API_KEY
from tests.factories import add_customer, add_customers, copy_migrations, pending
from tests.pg import Databases
from tests.support.admin_app import client, running_app

pytestmark = pytest.mark.anyio

Db = psycopg.Connection[dict[str, Any]]
SECRET = "cron-secret-0123456789abcdef"
CRON = {"authorization": f"Bearer {SECRET}"}

REFUSALS: dict[str, tuple[dict[str, Any], int, str]] = {
    "revoked key": ({"revoked_keys": [TEST_API_KEY]}, 401, "Key not found"),
    "unauthorised IP": ({"authorized_ips": ["203.0.113.7"]}, 401, "unrecognised IP address"),
    "no credits": ({"account_refusal": "not_enough_credits"}, 402, "credits"),
    "permission denied": ({"account_refusal": "permission_denied"}, 403, "Permission"),
    "under validation": ({"account_refusal": "account_under_validation"}, 403, "validation"),
}
ACCEPTING: dict[str, Any] = {"revoked_keys": [], "authorized_ips": None, "account_refusal": None}


def refuse(emulator_app: Any, switch: dict[str, Any]) -> None:
    emulator_app.state.config.apply_patch(switch)


def untouched(db: Db) -> dict[str, Any]:
    """What the sync wrote against customers: it must all be nothing."""
    row = db.execute(
        "SELECT (SELECT count(*) FROM brevo_sync.history) AS history,"
        " (SELECT count(*) FROM brevo_sync.sync_state WHERE status = 'error') AS errors,"
        " (SELECT count(*) FROM brevo_sync.queue WHERE attempts > 0"
        "  OR claimed_until IS NOT NULL OR next_attempt_at > now()) AS burnt,"
        " (SELECT count(*) FROM public.customers WHERE brevo_contact_id IS NOT NULL) AS ids"
    ).fetchone()
    assert row is not None
    return dict(row)


NOTHING = {"history": 0, "errors": 0, "burnt": 0, "ids": 0}


def pause_row(db: Db) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM brevo_sync.account_pause").fetchone()
    return dict(row) if row else None


# -- the engine ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_a_refusal_stops_the_drain_and_blames_no_row(
        kind: str, engine: Engine, db: Db, emulator_app: Any, store: Any) -> None:
    switch, status, words = REFUSALS[kind]
    add_customers(db, 30)  # more than one batch, pushed eight at a time
    refuse(emulator_app, switch)
    with pytest.raises(BrevoAccountError) as refused:
        await engine.drain()
    assert refused.value.status == status and words in refused.value.message
    assert pending(db) == 30 and untouched(db) == NOTHING
    assert store.count() == 0
    refuse(emulator_app, ACCEPTING)
    report = await engine.drain()
    assert report.synced == 30 and report.failed == 0
    assert pending(db) == 0 and store.count() == 30


async def test_a_refused_import_gives_every_row_back(
        engine: Engine, db: Db, emulator_app: Any, store: Any) -> None:
    """The bulk path too: a backlog over the threshold, refused at the import."""
    add_customers(db, 250)
    refuse(emulator_app, {"account_refusal": "not_enough_credits"})
    with pytest.raises(BrevoAccountError):
        await engine.drain()
    assert pending(db) == 250 and untouched(db) == NOTHING
    refuse(emulator_app, ACCEPTING)
    report = await engine.drain()
    assert report.bulk_imports == 1 and report.failed == 0 and pending(db) == 0
    assert store.count() == 250


async def test_an_admin_push_refused_for_the_account_leaves_the_row_due(
        engine: Engine, db: Db, emulator_app: Any) -> None:
    cid = add_customer(db)
    refuse(emulator_app, {"revoked_keys": [TEST_API_KEY]})
    with pytest.raises(BrevoAccountError):
        await engine.push_customer(cid)
    assert pending(db) == 1 and untouched(db) == NOTHING


# -- the app: cron, sync-all, /readyz, the page, status -------------------------------------


@pytest.fixture
async def app(settings: Settings, emulator: Any) -> AsyncIterator[Starlette]:
    with_secret = dataclasses.replace(
        settings, cron_secret=Settings.from_env({"CRON_SECRET": SECRET}).cron_secret)
    async with running_app(with_secret, emulator) as started:
        yield started


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client(app) as admin:
        yield admin


async def test_the_sweep_pauses_shows_it_everywhere_and_resumes(
        app: Starlette, http: httpx.AsyncClient, db: Db, emulator_app: Any, store: Any,
        database_url: str) -> None:
    add_customers(db, 5)
    refuse(emulator_app, {"revoked_keys": [TEST_API_KEY]})
    cron = client(app, auth=None, origin=None)
    cron.headers.update(CRON)
    with capture_logs() as logs:
        first = await cron.get("/api/cron/sync-brevo")
        second = await http.post("/api/admin/customers/sync-all", json={})
    for answer in (first, second):
        assert answer.status_code == 503, answer.text
        assert answer.json()["status"] == "paused" and "Key not found" in answer.json()["error"]
    assert pending(db) == 5 and untouched(db) == NOTHING
    errors = [e for e in logs if e["event"] == "brevo_account_refused"]
    assert len(errors) == 2 and {e["log_level"] for e in errors} == {"error"}
    assert TEST_API_KEY not in str(logs)

    recorded = pause_row(db)
    assert recorded is not None and recorded["status"] == 401 and recorded["refusals"] == 2
    assert TEST_API_KEY not in str(recorded)
    ready = await http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "paused"
    assert "Key not found" in ready.json()["error"]
    page = await http.get("/admin/clients")
    assert page.status_code == 200 and 'id="brevo-paused"' in page.text
    assert "Key not found" in page.text
    async with await connect(database_url, "test-status") as conn:
        status = await read_status(conn)
    assert status.paused is not None and status.failed == 0
    assert "Key not found" in status.as_text() and status.as_json()["paused"]["status"] == 401

    refuse(emulator_app, ACCEPTING)
    resumed = await cron.get("/api/cron/sync-brevo")
    await cron.aclose()
    assert resumed.status_code == 200 and resumed.json()["failed"] == 0
    assert pending(db) == 0 and store.count() == 5 and pause_row(db) is None
    assert (await http.get("/readyz")).json() == {"status": "ok"}
    assert 'id="brevo-paused"' not in (await http.get("/admin/clients")).text


# -- the migration ------------------------------------------------------------------------


def test_rows_stranded_by_earlier_versions_are_queued_again(
        databases: Databases, tmp_path: Path) -> None:
    """Refusals recorded as customers' permanent errors before 008 are retried: the rows go
    back in the queue (a deleted customer's with what its removal needs), their error gone;
    a real row error stays."""
    earlier = copy_migrations(tmp_path / "migrations", up_to=7)
    name = databases.create_empty()
    try:
        url = databases.server.url_for(name)
        migrate(url, earlier)
        with psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row) as db:
            revoked, broke, bad_phone = add_customers(db, 3)
            gone = add_customer(db)
            db.execute("DELETE FROM customers WHERE id = %s", (gone,))
            db.execute("DELETE FROM brevo_sync.queue")
            db.execute(
                "INSERT INTO brevo_sync.sync_state (customer_id, email, brevo_contact_id,"
                " status, last_error, last_error_code) VALUES"
                " (%s, 'a@example.com', NULL, 'error', 'Key not found', 'unauthorized'),"
                " (%s, 'b@example.com', NULL, 'error', 'no credits', '402'),"
                " (%s, 'c@example.com', NULL, 'error', 'Invalid phone number',"
                "  'invalid_parameter'),"
                " (%s, 'gone@example.com', 77, 'error', 'Key not found', 'unauthorized')",
                (revoked, broke, bad_phone, gone))
            migrate(url)
            queued = {r["customer_id"]: r for r in db.execute(
                "SELECT customer_id, deleted, deleted_email, deleted_contact_id"
                " FROM brevo_sync.queue")}
            assert set(queued) == {revoked, broke, gone}
            assert (queued[gone]["deleted"], queued[gone]["deleted_email"],
                    queued[gone]["deleted_contact_id"]) == (True, "gone@example.com", 77)
            assert not queued[revoked]["deleted"]
            errors = [r["customer_id"] for r in db.execute(
                "SELECT customer_id FROM brevo_sync.sync_state WHERE status = 'error'")]
            assert errors == [bad_phone]
    finally:
        databases.drop(name)


# -- the probe ----------------------------------------------------------------------------


async def test_the_pause_probes_until_answered_and_keeps_its_pace_until_a_push_works(
        pool: Pool, emulator: Any, emulator_app: Any, db: Db) -> None:
    """Refused probes are counted on the one record; a probe Brevo does not answer (5xx) is
    no resumption; an answered one clears the record. The delays keep growing across pauses
    until a push goes through, so a key that may read but not write cannot make it flap."""
    brevo = BrevoClient(TEST_API_KEY, "http://brevo.test/v3", max_attempts=1,
                        transport=httpx.ASGITransport(app=emulator))
    delays: list[int] = []

    def delay(failures: int) -> float:
        delays.append(failures)
        return 0.02

    pause = AccountPause(pool, brevo, source="test", delay=delay)
    refuse(emulator_app, {"account_refusal": "account_under_validation"})
    with pytest.raises(BrevoAccountError) as first:
        await brevo.list_contacts(limit=1)
    stop = asyncio.Event()
    async with brevo:
        waiting = asyncio.create_task(pause.wait_out(first.value, stop))
        while (pause_row(db) or {}).get("refusals", 0) < 4:
            await asyncio.sleep(0.02)
        assert pause.refusal is not None and pause.refusal.status == 403
        refuse(emulator_app, {"account_refusal": None, "error_rate": 1.0})
        seen = len(delays)
        while len(delays) < seen + 3:
            await asyncio.sleep(0.02)
        assert not waiting.done() and pause_row(db) is not None
        refuse(emulator_app, {"error_rate": 0.0})
        assert await asyncio.wait_for(waiting, 5) is True
    assert pause_row(db) is None and pause.refusal is None
    assert delays == list(range(1, len(delays) + 1)) and pause.failures == len(delays)
    pause.proved()
    assert pause.failures == 0
    stop.set()
    assert await pause.wait_out(first.value, stop) is False
