"""Each running listener records a heartbeat (listener/heartbeat.py) that the overview reads."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from structlog.testing import capture_logs

from brevo_sync.config import Settings
from brevo_sync.db import Pool, connect
from brevo_sync.overview import HEARTBEAT_SECONDS, SILENT_AFTER_SECONDS, read_overview
from listener.health import Health
from listener.heartbeat import Heartbeat
from listener.metrics import ListenerMetrics
from listener.run import serve

pytestmark = pytest.mark.anyio
Db = psycopg.Connection[dict[str, Any]]


@contextlib.asynccontextmanager
async def listening(settings: Settings, emulator: Any) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    fast = dataclasses.replace(settings, contacts_per_second=10_000, contacts_per_hour=10_000_000)
    task = asyncio.create_task(serve(fast, stop=stop, metrics_port=0, metrics=ListenerMetrics(),
                                     health=Health(),
                                     transport=httpx.ASGITransport(app=emulator)))
    try:
        yield stop
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 20) == 0


async def rows(db: Db) -> list[dict[str, Any]]:
    return db.execute("SELECT *, now() - last_seen AS age FROM brevo_sync.listeners").fetchall()


async def until(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_running_listener_keeps_its_heartbeat_fresh(
        settings: Settings, emulator: Any, db: Db, pool: Pool) -> None:
    async with listening(settings, emulator):
        first = (await until("a heartbeat", lambda: rows(db), 10))[0]
        assert first["stopped_at"] is None and first["age"].total_seconds() < HEARTBEAT_SECONDS
        worker = first["worker"]
        assert worker.split(":")[1] == str(first["pid"]) and first["host"]

        async def moved() -> bool:
            row = (await rows(db))[0]
            return bool(row["last_seen"] > first["last_seen"])

        await until("the next heartbeat", moved, HEARTBEAT_SECONDS * 3)
        async with pool.connection() as conn:
            overview = await read_overview(conn)
        assert [(b.worker, b.state) for b in overview.listeners] == [(worker, "running")]
        assert overview.listeners[0].summary.startswith("running, last seen ")


async def test_a_graceful_stop_is_recorded(settings: Settings, emulator: Any, db: Db,
                                           pool: Pool) -> None:
    async with listening(settings, emulator):
        await until("a heartbeat", lambda: rows(db), 10)
    row = (await rows(db))[0]
    assert row["stopped_at"] is not None
    async with pool.connection() as conn:
        beat = (await read_overview(conn)).listeners[0]
    assert beat.state == "stopped" and beat.summary.startswith("not running since ")


async def test_a_listener_that_dies_leaves_its_heartbeat_to_go_stale(
        database_url: str, db: Db, pool: Pool) -> None:
    """No stop recorded: the row stays as last written, and the overview reads it as silent
    once SILENT_AFTER_SECONDS have passed (shown here by a beat written that long ago)."""
    conn = await connect(database_url)
    async with conn:
        assert await Heartbeat("box:1:dead").beat(conn)
    row = (await rows(db))[0]
    assert row["stopped_at"] is None
    db.execute("UPDATE brevo_sync.listeners SET last_seen = last_seen - make_interval(secs => %s)",
               (SILENT_AFTER_SECONDS + 1,))
    async with pool.connection() as c:
        beat = (await read_overview(c)).listeners[0]
    assert beat.state == "silent" and "no heartbeat for" in beat.summary


async def test_the_first_beat_forgets_listeners_gone_for_a_week(database_url: str, db: Db
                                                                ) -> None:
    db.execute("INSERT INTO brevo_sync.listeners (worker, host, pid, last_seen) VALUES"
               " ('old:1:a', 'old', 1, now() - interval '8 days'),"
               " ('recent:2:b', 'recent', 2, now() - interval '6 days')")
    conn = await connect(database_url)
    async with conn:
        assert await Heartbeat("new:3:c").beat(conn)
    assert sorted(r["worker"] for r in await rows(db)) == ["new:3:c", "recent:2:b"]


async def test_a_beat_the_database_refuses_is_logged_once_not_raised(
        database_url: str, db: Db) -> None:
    db.execute("DROP TABLE brevo_sync.listeners")
    heartbeat = Heartbeat("box:1:x")
    conn = await connect(database_url)
    async with conn:
        with capture_logs() as logs:
            assert not await heartbeat.beat(conn)
            assert not await heartbeat.beat(conn)
    warned = [e for e in logs if e["event"] == "listener_heartbeat_failed"]
    assert len(warned) == 1 and "UndefinedTable" in warned[0]["error"]
