"""Imports as durable jobs, against a real PostgreSQL and the emulator with Brevo's rate limits
on and imports queued for minutes, as Brevo queues them (reference §14.1, §14.2).

The emulator's clock runs in real time (so rate limits and the client's pacing behave as with
Brevo) and can be moved ahead, so that a two-minute queue passes without waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from brevo_sync.brevo import BrevoClient, RateLimiter, RateLimits
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.emulator import Clock, EmulatorConfig, create_app
from brevo_sync.engine import Engine
from brevo_sync.importer import ImportTiming
from brevo_sync.wiring import policy_from, prepare_brevo
from tests.conftest import TEST_API_KEY
from tests.factories import add_customers, pending

pytestmark = pytest.mark.anyio

QUEUED = 120.0
# Look at an open import on every drain, and poll its process at every look.
EAGER = ImportTiming(first_check=0.0, check_max=0.0, poll_spacing=0.0, first_poll=0.0,
                     posting_settle=0.0)
IMPORT_POST = ("POST", "/v3/contacts/import", 202)
POLL = ("GET", "/v3/processes/{processId}", 200)
POLL_LIST = ("GET", "/v3/processes", 200)
ONE_CREATE = ("POST", "/v3/contacts", 201)


class ShiftedClock(Clock):
    """Real time plus whatever the test moved it ahead by."""

    def __init__(self) -> None:
        self.offset = 0.0

    def wall(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(import_base_ms=20.0, import_ms_per_contact=0.0, seed=1,
                          rate_limits=True, import_queue_seconds=QUEUED)


@pytest.fixture
def emulator_app(emulator_config: EmulatorConfig, clock: ShiftedClock) -> Any:
    return create_app(emulator_config, clock=clock)


Connect = Callable[..., Awaitable[BrevoClient]]


@pytest.fixture
async def connect(emulator: Any) -> AsyncIterator[Connect]:
    """Factory: a client as another process of the deployment would have (its own limiter,
    pacing at Brevo's published limits)."""
    made: list[BrevoClient] = []

    async def make(limits: RateLimits | None = None,
                   transport: httpx.AsyncBaseTransport | None = None) -> BrevoClient:
        client = BrevoClient(TEST_API_KEY, "http://brevo.test/v3",
                             transport=transport or httpx.ASGITransport(app=emulator),
                             limiter=RateLimiter(limits or RateLimits()))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


MakeEngine = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def make_engine(pool: Pool, settings: Settings, connect: Connect) -> MakeEngine:
    prepared = False

    async def make(timing: ImportTiming = EAGER, client: BrevoClient | None = None,
                   **options: Any) -> Engine:
        nonlocal prepared
        client = client or await connect()
        if not prepared:
            await prepare_brevo(client)
            prepared = True
        return Engine(pool, client, policy_from(settings), source="test", bulk_threshold=5,
                      import_timing=timing, keep_outcomes=True, **options)

    return make


def calls(emulator_app: Any, key: tuple[str, str, int]) -> int:
    return int(emulator_app.state.calls[key])


def polls(emulator_app: Any) -> int:
    """/processes calls: the list (one tells of every open import) or one process."""
    return calls(emulator_app, POLL) + calls(emulator_app, POLL_LIST)


def imports(db: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute("SELECT * FROM brevo_sync.imports ORDER BY id")]


def without_id(db: psycopg.Connection[Any], ids: list[Any]) -> int:
    row = db.execute("SELECT count(*) AS n FROM customers WHERE id = ANY(%s)"
                     " AND brevo_contact_id IS NULL", (ids,)).fetchone()
    assert row is not None
    return int(row["n"])


def leases(db: psycopg.Connection[Any]) -> set[tuple[Any, ...]]:
    """(holder, whether the lease outlasts any import, import) of every queue row."""
    return {(r["claimed_by"], r["lasting"], r["import_id"]) for r in db.execute(
        "SELECT claimed_by, claimed_until > now() + interval '50 years' AS lasting, import_id"
        " FROM brevo_sync.queue")}


async def test_a_queued_import_is_waited_for_and_never_posted_again(
        db: psycopg.Connection[Any], make_engine: MakeEngine, emulator_app: Any,
        store: Any, clock: ShiftedClock) -> None:
    ids = add_customers(db, 30)
    engine = await make_engine()
    report = await engine.drain(wait_imports=False)
    assert report.bulk_imports == 1
    [job] = imports(db)
    assert job["process_id"] is not None and job["status"] == "waiting" and job["rows"] == 30
    assert leases(db) == {(f"import:{job['id']}", True, job["id"])}
    other = await make_engine()
    for _ in range(5):
        clock.advance(20)
        await engine.drain(wait_imports=False)
        await other.drain(wait_imports=False)
        assert store.count() == 0
    assert calls(emulator_app, IMPORT_POST) == 1
    assert calls(emulator_app, ONE_CREATE) == 0, "rows in an import were pushed by another"
    assert await other.push_customer(ids[0]) is None, "an admin push took a row in an import"
    clock.advance(25)
    await engine.drain(wait_imports=False)
    assert without_id(db, ids) == 0 and pending(db) == 0
    assert store.count() == 30
    assert calls(emulator_app, IMPORT_POST) == 1
    [job] = imports(db)
    assert job["status"] == "done" and job["finished_at"] is not None


async def test_a_restarted_process_resumes_the_stored_import(
        db: psycopg.Connection[Any], make_engine: MakeEngine, emulator_app: Any,
        clock: ShiftedClock) -> None:
    ids = add_customers(db, 12)
    await (await make_engine()).drain(wait_imports=False)
    restarted = await make_engine()
    clock.advance(QUEUED + 1)
    report = await restarted.drain()
    assert report.imports_settled == 1 and report.counts["ok"] == 12
    assert without_id(db, ids) == 0 and pending(db) == 0
    assert calls(emulator_app, IMPORT_POST) == 1 and calls(emulator_app, ONE_CREATE) == 0


class KilledBeforeSending(httpx.AsyncBaseTransport):
    """The process dies as it is about to send the import."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/contacts/import"):
            raise asyncio.CancelledError()
        return await self.inner.handle_async_request(request)


class LoseImportAnswer(httpx.AsyncBaseTransport):
    """Brevo takes the import, then the answer never arrives: a time-out, or the process
    killed before it stored the process id."""

    def __init__(self, app: Any, lose: BaseException) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.lose = lose

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/contacts/import"):
            await response.aread()
            raise self.lose
        return response


async def test_an_import_whose_answer_was_lost_is_waited_for_not_posted_again(
        db: psycopg.Connection[Any], make_engine: MakeEngine, connect: Connect,
        emulator: Any, emulator_app: Any, clock: ShiftedClock) -> None:
    ids = add_customers(db, 12)
    lossy = await connect(transport=LoseImportAnswer(emulator, httpx.ReadTimeout("timed out")))
    engine = await make_engine(client=lossy)
    await engine.drain(wait_imports=False)
    [job] = imports(db)
    assert job["status"] == "unknown" and job["process_id"] is None
    assert leases(db) == {(f"import:{job['id']}", True, job["id"])}
    await engine.drain(wait_imports=False)
    clock.advance(QUEUED + 1)
    await engine.drain()
    assert without_id(db, ids) == 0 and pending(db) == 0
    assert calls(emulator_app, IMPORT_POST) == 1 and calls(emulator_app, ONE_CREATE) == 0


async def test_a_process_killed_between_post_and_store_leaves_rows_in_the_import(
        db: psycopg.Connection[Any], make_engine: MakeEngine, connect: Connect,
        emulator: Any, emulator_app: Any, clock: ShiftedClock) -> None:
    ids = add_customers(db, 12)
    killed = await connect(transport=LoseImportAnswer(emulator, asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        await (await make_engine(client=killed)).drain(wait_imports=False)
    [job] = imports(db)
    assert job["status"] == "posting"
    assert leases(db) == {(f"import:{job['id']}", True, job["id"])}
    # The poster's hold on the import runs out as it would after a few minutes.
    db.execute("UPDATE brevo_sync.imports SET claimed_until = now() - interval '1 second'")
    await (await make_engine()).drain(wait_imports=False)
    [job] = imports(db)
    assert job["status"] == "waiting" and job["process_id"] is not None, "not adopted"
    clock.advance(QUEUED + 1)
    await (await make_engine()).drain()
    assert without_id(db, ids) == 0 and pending(db) == 0
    assert calls(emulator_app, IMPORT_POST) == 1 and calls(emulator_app, ONE_CREATE) == 0


@pytest.mark.parametrize("written_down", [True, False])
async def test_an_import_that_never_reached_brevo_is_posted_at_the_next_look(
        db: psycopg.Connection[Any], make_engine: MakeEngine, connect: Connect,
        emulator: Any, emulator_app: Any, clock: ShiftedClock, written_down: bool) -> None:
    """Brevo's list of processes shows no import it could be: its rows are imported again at
    once instead of waiting out the grace time (also when the process died after taking the
    rows and before writing them down)."""
    ids = add_customers(db, 12)
    killed = await connect(transport=KilledBeforeSending(emulator))
    with pytest.raises(asyncio.CancelledError):
        await (await make_engine(client=killed)).drain(wait_imports=False)
    if not written_down:
        db.execute("DELETE FROM brevo_sync.import_rows")
    db.execute("UPDATE brevo_sync.imports SET claimed_until = now() - interval '1 second'")
    engine = await make_engine()
    await engine.drain(wait_imports=False)
    lost, posted = imports(db)
    assert lost["status"] == "failed" and "never reached" in lost["error"]
    assert posted["status"] == "waiting" and posted["rows"] == 12
    # The look for the lost import among Brevo's processes, then one for the new import.
    assert calls(emulator_app, POLL_LIST) == 2 and calls(emulator_app, POLL) == 0
    clock.advance(QUEUED + 1)
    await engine.drain()
    assert without_id(db, ids) == 0 and pending(db) == 0
    assert calls(emulator_app, IMPORT_POST) == 1 and calls(emulator_app, ONE_CREATE) == 0


@pytest.mark.parametrize("ending", ["failed", "cancelled"])
async def test_a_failed_or_cancelled_import_sends_its_rows_one_by_one(
        db: psycopg.Connection[Any], make_engine: MakeEngine, emulator_app: Any,
        store: Any, ending: str) -> None:
    emulator_app.state.config.import_queue_seconds = 0.0
    emulator_app.state.config.import_outcome = ending
    ids = add_customers(db, 8)
    timing = ImportTiming(first_check=0.05, check_max=0.05, poll_spacing=0.05, first_poll=0.0)
    report = await (await make_engine(timing)).drain()
    assert report.counts["ok"] == 8 and report.imports_settled == 1
    assert without_id(db, ids) == 0 and pending(db) == 0 and store.count() == 8
    assert calls(emulator_app, IMPORT_POST) == 1
    assert calls(emulator_app, ONE_CREATE) == 8
    [job] = imports(db)
    assert job["status"] == "failed" and job["process_status"] == ending


async def test_an_import_brevo_refuses_is_recorded_once_not_retried(
        db: psycopg.Connection[Any], make_engine: MakeEngine, emulator_app: Any,
        store: Any) -> None:
    """The sync's list was deleted in Brevo: the import is refused (400), and so is every
    row; rows are recorded with Brevo's reason, and no import is tried again meanwhile."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator_app),
                                 base_url="http://brevo.test/v3",
                                 headers={"api-key": TEST_API_KEY}) as http:
        assert (await http.delete("/contacts/lists/2")).status_code == 204
    add_customers(db, 8)
    engine = await make_engine()
    first = await engine.drain()
    add_customers(db, 8)
    second = await engine.drain()
    assert calls(emulator_app, IMPORT_POST) == 0
    assert calls(emulator_app, ("POST", "/v3/contacts/import", 400)) == 1
    assert first.failed == 8 and second.failed == 8 and pending(db) == 0
    [job] = imports(db)
    assert job["status"] == "refused" and "List" in job["error"]


async def test_a_change_during_an_import_is_not_lost(
        db: psycopg.Connection[Any], make_engine: MakeEngine, store: Any,
        clock: ShiftedClock) -> None:
    ids = add_customers(db, 8)
    engine = await make_engine()
    await engine.drain(wait_imports=False)
    db.execute("UPDATE customers SET first_name = 'Renamed' WHERE id = %s", (ids[0],))
    clock.advance(QUEUED + 1)
    await engine.drain()
    assert pending(db) == 0
    email = db.execute("SELECT email FROM customers WHERE id = %s", (ids[0],)).fetchone()
    assert email is not None
    assert store.get_by_email(email["email"])["attributes"]["FIRSTNAME"] == "Renamed"


async def test_polls_of_the_whole_deployment_share_one_spacing(
        db: psycopg.Connection[Any], make_engine: MakeEngine, emulator_app: Any,
        clock: ShiftedClock) -> None:
    """Three processes looking at the same import every few seconds poll /processes once
    between them; completion is learnt by listing contacts."""
    ids = add_customers(db, 30)
    timing = ImportTiming(first_check=0.0, check_max=0.0, poll_spacing=3600.0, first_poll=0.0)
    engines = [await make_engine(timing) for _ in range(3)]
    await engines[0].drain(wait_imports=False)
    while without_id(db, ids):
        assert clock.offset <= QUEUED + 60, "the import never settled"
        clock.advance(15)
        for engine in engines:
            await engine.drain(wait_imports=False)
    assert polls(emulator_app) == 1
    assert calls(emulator_app, IMPORT_POST) == 1 and calls(emulator_app, ONE_CREATE) == 0
    row = db.execute("SELECT polls FROM brevo_sync.process_polls").fetchone()
    assert row is not None and row["polls"] == 1


async def test_no_drain_sleeps_past_its_deadline_for_a_rate_budget(
        db: psycopg.Connection[Any], make_engine: MakeEngine, connect: Connect,
        emulator_app: Any) -> None:
    """The hour's "other" and contacts budgets spent while an import is queued: a drain with
    a 2 s deadline returns on time instead of sleeping until the budgets come back."""
    ids = add_customers(db, 12)
    spent = await connect(RateLimits(other_per_hour=2, contacts_per_hour=6))
    engine = await make_engine(client=spent)
    started = time.monotonic()
    report = await engine.drain(deadline=started + 2.0)
    elapsed = time.monotonic() - started
    assert elapsed < 3.5, f"the drain took {elapsed:.1f} s for a 2 s deadline"
    assert report.bulk_imports == 1 and calls(emulator_app, IMPORT_POST) == 1
    assert polls(emulator_app) <= 2
    assert without_id(db, ids) == 12 and pending(db) == 12


async def test_changes_to_existing_contacts_settle_once_the_process_completed(
        db: psycopg.Connection[Any], make_engine: MakeEngine, emulator_app: Any,
        store: Any, clock: ShiftedClock) -> None:
    """A contact that existed before the import proves nothing by being listed; the process's
    own "completed" does."""
    ids = add_customers(db, 8)
    engine = await make_engine(ImportTiming(first_check=0.0, check_max=0.0,
                                            poll_spacing=3600.0, first_poll=10.0))
    await engine.drain(wait_imports=False)
    clock.advance(QUEUED + 1)
    await engine.drain()
    assert without_id(db, ids) == 0
    db.execute("UPDATE customers SET last_name = 'Changed' WHERE id = ANY(%s)", (ids,))
    await engine.drain(wait_imports=False)
    [_, job] = imports(db)
    clock.advance(QUEUED + 1)
    await engine.drain(wait_imports=False)
    # Applied by Brevo, but only a poll tells, and none is due yet: still waiting.
    assert [j["status"] for j in imports(db)] == ["done", "waiting"] and pending(db) == 8
    db.execute("UPDATE brevo_sync.imports SET posted_at = posted_at - interval '10 seconds'")
    report = await engine.drain(wait_imports=False)
    assert report.imports_settled == 1 and report.counts["ok"] == 8 and pending(db) == 0
    assert calls(emulator_app, IMPORT_POST) == 2 and calls(emulator_app, ONE_CREATE) == 0
    assert polls(emulator_app) == 1
    assert {c["attributes"]["LASTNAME"] for c in store.contacts()} == {"Changed"}
    assert job["process_id"] is not None
