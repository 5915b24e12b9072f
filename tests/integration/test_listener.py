"""The listener against a real PostgreSQL and the Brevo emulator.

Most tests run the service in-process (`listener.run.serve`) with the emulator mounted as
an ASGI transport; the first one runs both as real processes, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from structlog.testing import capture_logs

from brevo_sync.config import Settings
from listener.health import Health
from listener.metrics import ListenerMetrics
from listener.run import serve
from tests.conftest import TEST_API_KEY, TEST_LIST_ID
from tests.factories import add_customer, add_customers, pending
from tests.pg import dbname_of
from tests.reliability.harness import Emulator, Listener
from tests.support.processes import free_port

T = TypeVar("T")
Db = psycopg.Connection[dict[str, Any]]


def test_a_single_insert_reaches_brevo_through_the_processes(
        database_url: str, db: Db, tmp_path: Path) -> None:
    """`python -m listener` and `brevo-sync fake-brevo` as processes: each commit becomes a
    contact. How fast is measured by bench/bench_listener_latency.py (p99 <= 150 ms), not here:
    a wall-clock bound in the suite fails on a loaded machine, not on slow code."""
    emulator = Emulator()
    listener = Listener(database_url, emulator.base_url, tmp_path, module=True)
    try:
        listener.wait_healthy()
        for n in range(3):  # the first after start, then two from idle
            add_customer(db, email=f"fast{n}@example.com")
            committed = time.monotonic()
            while not any(c["email"] == f"fast{n}@example.com" for c in emulator.contacts()):
                # Generous: a lost wake-up still arrives within the 1 s poll.
                assert time.monotonic() - committed < 15, listener.log_text()[-2000:]
                time.sleep(0.01)
    finally:
        listener.close()
        emulator.close()
    pushes = listener.events("brevo_push")
    assert len(pushes) == 3
    assert {p["outcome"] for p in pushes} == {"ok"} and {p["action"] for p in pushes} == {"create"}
    assert all(p["customer_id"] and isinstance(p["ms"], float) for p in pushes)
    assert TEST_API_KEY not in listener.log_text()
    assert listener.events("listener_stopped"), "no graceful stop on SIGTERM"


# -- in-process ----------------------------------------------------------------------------


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, contacts_per_second=10_000,
                               contacts_per_hour=10_000_000)


@dataclass
class Running:
    task: asyncio.Task[int]
    stop: asyncio.Event
    metrics: ListenerMetrics
    health: Health

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def stopped(self, within: float) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, within)


@contextlib.asynccontextmanager
async def running(settings: Settings, transport: Any, **options: Any
                  ) -> AsyncIterator[Running]:
    stop = asyncio.Event()
    metrics, health = ListenerMetrics(), Health()
    options.setdefault("metrics_port", 0)
    task = asyncio.create_task(serve(settings, stop=stop, transport=transport, metrics=metrics,
                                     health=health, **options))
    service = Running(task, stop, metrics, health)
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def eventually(what: str, check: Callable[[], T | Awaitable[T]],
                     timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def asgi(app: Any) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)


def in_brevo(store: Any, email: str) -> Callable[[], bool]:
    return lambda: store.get_by_email(email) is not None


def reconnects_reach(service: Running, count: int) -> Callable[[], bool]:
    return lambda: service.sample("brevo_sync_listener_reconnects_total") >= count


def terminate(db: Db, database_url: str) -> int:
    """pg_terminate_backend on every connection of the listener (LISTEN and pool)."""
    name = dbname_of(database_url)
    rows = db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = %s AND application_name LIKE 'brevo-sync-listen%%'",
                      (name,)).fetchall()
    return len(rows)




@pytest.mark.anyio
async def test_a_notification_wakes_the_listener_long_before_the_poll(
        fast_settings: Settings, db: Db, emulator: Any, store: Any) -> None:
    """With a 30 s poll, only the NOTIFY can bring a change to Brevo within a second."""
    async with running(fast_settings, asgi(emulator), poll_seconds=30) as service:
        await eventually("the listener to connect", lambda: service.health.connected)
        for n in range(3):
            add_customer(db, email=f"hint{n}@example.com")
            await eventually("the contact", in_brevo(store, f"hint{n}@example.com"), 1.0)


@pytest.mark.anyio
async def test_a_lost_notification_costs_one_poll_interval(
        fast_settings: Settings, db: Db, emulator: Any, store: Any) -> None:
    """A change committed with the wake-up flag down sends no NOTIFY; the poll finds it."""
    async with running(fast_settings, asgi(emulator), poll_seconds=0.3) as service:
        await eventually("the listener to connect", lambda: service.health.connected)
        with db.transaction():
            db.execute("UPDATE brevo_sync.wakeup SET armed = false")
            add_customer(db, email="quiet@example.com")
        await eventually("the contact", in_brevo(store, "quiet@example.com"), 1.5)


@pytest.mark.anyio
async def test_what_was_pending_before_start_is_drained_at_once(
        fast_settings: Settings, db: Db, emulator: Any, store: Any) -> None:
    add_customers(db, 25)
    async with running(fast_settings, asgi(emulator), poll_seconds=30):
        await eventually("the backlog", lambda: pending(db) == 0)
    assert len(store.contacts()) == 25


@pytest.mark.anyio
async def test_healthz_and_metrics_are_served(
        fast_settings: Settings, db: Db, emulator: Any) -> None:
    port = free_port()
    async with running(fast_settings, asgi(emulator), metrics_port=port) as service, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        await eventually("the listener to connect", lambda: service.health.connected)
        add_customer(db)
        await eventually("a push", lambda: service.sample(
            "brevo_sync_pushes_total", action="create", outcome="ok") == 1)
        health = await http.get("/healthz")
        assert health.status_code == 200 and health.json()["connected"] is True
        metrics = (await http.get("/metrics")).text
        for family in ("brevo_sync_queue_pending", "brevo_sync_queue_oldest_pending_age_seconds",
                       "brevo_sync_brevo_request_seconds_bucket",
                       'brevo_sync_rate_limit_waits_total{group="contacts"}',
                       "brevo_sync_listener_reconnects_total", "brevo_sync_push_seconds"):
            assert family in metrics, family
        assert (await http.post("/metrics")).status_code == 405
        missing = await http.get("/nowhere")
        assert missing.status_code == 404 and "error" in missing.json()
        assert service.sample("brevo_sync_brevo_request_seconds_count", group="contacts") >= 1


@pytest.mark.anyio
async def test_healthz_is_503_while_the_database_is_unreachable(
        fast_settings: Settings, emulator: Any, database_url: str) -> None:
    """DATABASE_URL_UNPOOLED refusing connections: unhealthy, retried with growing delays."""
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    settings = Settings.from_env({**_env(fast_settings), "DATABASE_URL_UNPOOLED": dead})
    port = free_port()
    with capture_logs() as logs:
        async with running(settings, asgi(emulator), metrics_port=port), \
                httpx.AsyncClient() as http:
            await eventually("three refused connections", lambda: len(
                [e for e in logs if e["event"] == "listener_connect_failed"]) >= 3, 10)
            answer = await http.get(f"http://127.0.0.1:{port}/healthz")
    assert answer.status_code == 503 and answer.json()["connected"] is False
    waits = [e["seconds"] for e in logs if e["event"] == "listener_reconnect_wait"]
    assert waits == sorted(waits) and waits[2] >= 1.0, f"no growing backoff: {waits}"


@pytest.mark.anyio
async def test_reconnects_within_seconds_after_its_connections_are_killed(
        fast_settings: Settings, db: Db, emulator: Any, store: Any,
        database_url: str) -> None:
    async with running(fast_settings, asgi(emulator)) as service:
        for round_ in range(1, 4):
            await eventually("the listener to connect", lambda: service.health.connected)
            assert terminate(db, database_url) >= 1
            add_customer(db, email=f"after-kill{round_}@example.com")
            await eventually("a reconnect", reconnects_reach(service, round_), 5)
            await eventually("the contact", in_brevo(store, f"after-kill{round_}@example.com"))


@pytest.mark.anyio
async def test_a_read_only_database_is_retried_with_growing_delays(
        fast_settings: Settings, db: Db, emulator: Any, store: Any,
        database_url: str) -> None:
    """Connections succeed but every drain fails: the delays still grow, then it recovers."""
    name = dbname_of(database_url)
    add_customer(db, email="waiting@example.com")
    db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with capture_logs() as logs:
        async with running(fast_settings, asgi(emulator)) as service:
            await eventually("four failed attempts", lambda: len(
                [e for e in logs if e["event"] == "listener_reconnect_wait"]) >= 4, 15)
            db.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            terminate(db, database_url)
            await eventually("the contact", in_brevo(store, "waiting@example.com"), 15)
            assert service.health.connected
    waits = [e["seconds"] for e in logs if e["event"] == "listener_reconnect_wait"][:4]
    assert waits == sorted(waits) and waits[3] >= 2.0, f"no growing backoff: {waits}"
    assert any("read-only" in e.get("error", "") for e in logs)


@pytest.mark.anyio
async def test_stop_lets_pushes_in_flight_finish_and_releases_the_rest(
        fast_settings: Settings, db: Db, emulator_app: Any, emulator: Any,
        store: Any) -> None:
    emulator_app.state.config.latency_ms = 300
    add_customers(db, 40)
    async with running(fast_settings, asgi(emulator)) as service:
        await eventually("the first pushes", lambda: len(store.contacts()) >= 3)
        started = time.monotonic()
        assert await service.stopped(within=5) == 0
        assert time.monotonic() - started < 2
    assert 0 < len(store.contacts()) < 40
    leased = db.execute("SELECT count(*) AS n FROM brevo_sync.queue"
                        " WHERE claimed_until > now()").fetchone()
    assert leased is not None and leased["n"] == 0
    assert pending(db) == 40 - len(store.contacts())
    emulator_app.state.config.latency_ms = 0
    async with running(fast_settings, asgi(emulator)):
        await eventually("the rest", lambda: pending(db) == 0)
    assert len(store.contacts()) == 40


@pytest.mark.anyio
async def test_a_push_hung_past_the_deadline_is_cut_off_and_its_lease_ended(
        fast_settings: Settings, db: Db, emulator_app: Any, emulator: Any, store: Any) -> None:
    # A claim alone is not a push in flight: a stop that lands before the push starts gives
    # the lease back unpushed (claimed_until NULL). Wait until the push has reached Brevo.
    pushes: list[str] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            pushes.append(scope["path"])
        await emulator(scope, receive, send)

    async with running(fast_settings, asgi(recording), stop_deadline=0.5) as service:
        await eventually("the listener to connect", lambda: service.health.connected)
        # A first customer pushed at full speed: the once-a-process account check is behind us.
        add_customer(db, email="first@example.com")
        await eventually("the first contact", in_brevo(store, "first@example.com"))
        emulator_app.state.config.latency_ms = 30_000
        pushes.clear()
        add_customer(db)
        await eventually("a push in flight", lambda: any(
            p.startswith("/v3/contacts") and "/attributes" not in p for p in pushes))
        started = time.monotonic()
        assert await service.stopped(within=5) == 0
        assert time.monotonic() - started < 2
    row = db.execute("SELECT claimed_until <= now() AS ended FROM brevo_sync.queue").fetchone()
    assert row is not None and row["ended"]


@pytest.mark.anyio
async def test_brevo_unreachable_at_start_is_retried_not_fatal(
        fast_settings: Settings, db: Db, emulator: Any, store: Any) -> None:
    """A 429 whose window resets in an hour makes the client give up at once; the listener
    tries again later instead of exiting."""
    refused: list[int] = []
    upstream = asgi(emulator)

    async def first_refused(request: httpx.Request) -> httpx.Response:
        if not refused:
            refused.append(1)
            return httpx.Response(429, headers={"x-sib-ratelimit-reset": "3600"},
                                  json={"code": "too_many_requests", "message": "slow down"})
        return await upstream.handle_async_request(request)

    with capture_logs() as logs:
        async with running(fast_settings, httpx.MockTransport(first_refused)) as service:
            await eventually("the listener to connect", lambda: service.health.connected, 10)
            add_customer(db, email="late@example.com")
            await eventually("the contact", in_brevo(store, "late@example.com"))
    assert [e for e in logs if e["event"] == "listener_brevo_unavailable"]


@pytest.mark.anyio
async def test_a_refused_api_key_at_start_pauses_until_brevo_takes_it(
        fast_settings: Settings, db: Db, emulator_app: Any, emulator: Any, store: Any) -> None:
    """A key Brevo refuses at start is the account's problem, fixed in Brevo: the listener
    stays up, paused and saying why, and pushes once the key is taken."""
    emulator_app.state.config.revoked_keys = [TEST_API_KEY]
    add_customer(db, email="waiting@example.com")
    with capture_logs() as logs:
        async with running(fast_settings, asgi(emulator),
                           pause_delay=lambda n: 0.1) as service:
            await eventually("the pause", lambda: service.health.paused is not None)
            assert not service.task.done()
            assert "Key not found" in (service.health.paused or "")
            emulator_app.state.config.revoked_keys = []
            await eventually("the contact", in_brevo(store, "waiting@example.com"))
            assert service.health.paused is None
    refused = [e for e in logs if e["event"] == "brevo_account_refused"]
    assert len(refused) == 1 and refused[0]["log_level"] == "error"
    assert TEST_API_KEY not in json.dumps(logs, default=str)


@pytest.mark.anyio
async def test_a_key_revoked_while_running_pauses_and_blames_no_customer(
        fast_settings: Settings, db: Db, emulator_app: Any, emulator: Any, store: Any) -> None:
    """Revoked mid-run: changes wait in the queue, untouched; the pause shows in health and
    metrics and in the database, once; the key enabled again, everything goes through."""
    async with running(fast_settings, asgi(emulator), pause_delay=lambda n: 0.2) as service:
        await eventually("the listener to connect", lambda: service.health.connected)
        emulator_app.state.config.revoked_keys = [TEST_API_KEY]
        add_customers(db, 12)
        await eventually("the pause", lambda: service.sample(
            "brevo_sync_brevo_account_paused") == 401)
        assert "Key not found" in (service.health.paused or "")
        await eventually("a few probes", lambda: db.execute(
            "SELECT refusals >= 3 AS probed FROM brevo_sync.account_pause").fetchone())
        assert pending(db) == 12
        untouched = db.execute(
            "SELECT (SELECT count(*) FROM brevo_sync.history) AS history,"
            " (SELECT count(*) FROM brevo_sync.sync_state WHERE status = 'error') AS errors,"
            " (SELECT max(attempts) FROM brevo_sync.queue) AS attempts").fetchone()
        assert untouched == {"history": 0, "errors": 0, "attempts": 0}
        emulator_app.state.config.revoked_keys = []
        await eventually("the backlog", lambda: pending(db) == 0)
        assert service.sample("brevo_sync_brevo_account_paused") == 0
        assert service.health.paused is None
    assert len(store.contacts()) == 12
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.account_pause").fetchone() == {"n": 0}


@pytest.mark.anyio
async def test_each_push_logs_one_line_without_secrets(
        fast_settings: Settings, db: Db, emulator: Any) -> None:
    with capture_logs() as logs:
        async with running(fast_settings, asgi(emulator)) as service:
            await eventually("the listener to connect", lambda: service.health.connected)
            customer_id = add_customer(db, phone="+33 6 12 34 56 78")
            await eventually("the push", lambda: [e for e in logs if e["event"] == "brevo_push"])
    pushes = [e for e in logs if e["event"] == "brevo_push"]
    assert len(pushes) == 1
    line = pushes[0]
    assert line["customer_id"] == str(customer_id)
    assert line["action"] == "create" and line["outcome"] == "ok" and line["ms"] >= 0
    assert [e for e in logs if e["event"] == "listener_connected"]
    assert [e for e in logs if e["event"] == "listener_stopped"]
    assert TEST_API_KEY not in json.dumps(logs, default=str)


def _env(settings: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url or "",
        "BREVO_API_KEY": TEST_API_KEY,
        "BREVO_BASE_URL": settings.brevo_base_url,
        "BREVO_LIST_ID": str(TEST_LIST_ID),
        "BREVO_CONTACTS_PER_SECOND": "10000",
        "BREVO_CONTACTS_PER_HOUR": "10000000",
    }


@pytest.mark.anyio
async def test_a_database_down_is_said_at_error_level_once_a_minute(engine: Any) -> None:
    """Each refused connection is a warning; once a minute an error says what it waits for."""
    from listener.backoff import Backoff
    from listener.loop import Listener as Loop

    now = [0.0]

    def clock() -> float:  # 20 s pass at each look: minutes go by in milliseconds
        now[0] += 20
        return now[0]

    stop = asyncio.Event()
    loop = Loop(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", engine, stop=stop,
                metrics=ListenerMetrics(), health=Health(), clock=clock,
                backoff=Backoff(base=0.001, cap=0.002), setting="DATABASE_URL_UNPOOLED")
    with capture_logs() as logs:
        task = asyncio.create_task(loop.run())
        await eventually("two error lines", lambda: len(
            [e for e in logs if e["event"] == "listener_waiting_for_database"]) >= 2, 10)
        stop.set()
        await asyncio.wait_for(task, 5)
    errors = [e for e in logs if e["event"] == "listener_waiting_for_database"]
    assert {e["log_level"] for e in errors} == {"error"}
    assert "DATABASE_URL_UNPOOLED" in errors[0]["waiting_for"]
    assert errors[0]["down_seconds"] >= 60
    assert errors[1]["down_seconds"] - errors[0]["down_seconds"] >= 60
    refused = [e for e in logs if e["event"] == "listener_connect_failed"]
    assert len(refused) > len(errors) and {e["log_level"] for e in refused} == {"warning"}
