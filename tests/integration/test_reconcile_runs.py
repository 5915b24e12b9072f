"""The sweep as a run: one at a time, within its budget, recorded as it goes, and tidy after."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from brevo_sync.brevo import BrevoClient, RateLimiter, RateLimits
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.housekeeping import Pruned, prune
from brevo_sync.reconcile import ALREADY_RUNNING, run_sweep, sweep_lock
from tests.conftest import TEST_API_KEY
from tests.factories import add_customers
from tests.support.processes import emulator_process

pytestmark = pytest.mark.anyio
T = TypeVar("T")


def missed(db: psycopg.Connection[Any]) -> None:
    db.execute("DELETE FROM brevo_sync.queue")


async def eventually(probe: Callable[[], T | None], within: float = 10.0) -> T:
    """Poll `probe` until it answers something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.02)


@pytest.fixture
async def paced(emulator: Any) -> Any:
    """A client held to 20 contacts calls a second, so a sweep takes a while."""
    client = BrevoClient(TEST_API_KEY, "http://brevo.test/v3",
                         transport=httpx.ASGITransport(app=emulator),
                         limiter=RateLimiter(RateLimits(contacts_per_second=20)))
    async with client:
        yield client


def one_by_one(settings: Settings) -> Settings:
    return dataclasses.replace(settings, bulk_threshold=10_000)


def running_run(db: psycopg.Connection[Any]) -> dict[str, Any] | None:
    return db.execute("SELECT id, counts FROM brevo_sync.runs WHERE status = 'running'"
                      ).fetchone()


async def test_a_second_sweep_is_told_at_once_that_one_is_running(
        db: psycopg.Connection[Any], pool: Pool, paced: BrevoClient, settings: Settings,
        store: Any) -> None:
    add_customers(db, 30)
    missed(db)
    first = asyncio.create_task(run_sweep(one_by_one(settings), pool, paced, source="cron"))
    run = await eventually(lambda: running_run(db))
    second = await run_sweep(settings, pool, paced, source="admin")
    # Told while the first still runs: it did not wait for the first's lock.
    assert not first.done()
    assert second.status == "running" and second.run_id == run["id"]
    body = second.as_json()
    assert body["error"] == ALREADY_RUNNING and body["success"] is False
    done = await first
    assert done.status == "done" and done.synced == 30 and store.count() == 30
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.runs").fetchone() == {"n": 1}


async def test_the_lock_is_free_again_once_a_sweep_ends(
        pool: Pool, brevo: BrevoClient, settings: Settings) -> None:
    async with sweep_lock(settings.require_database()) as held:
        assert held
        assert (await run_sweep(settings, pool, brevo, source="test")).status == "running"
    assert (await run_sweep(settings, pool, brevo, source="test")).status == "done"


async def test_the_run_counts_move_while_the_sweep_pushes(
        db: psycopg.Connection[Any], pool: Pool, paced: BrevoClient, settings: Settings) -> None:
    add_customers(db, 40)
    missed(db)
    seen: list[dict[str, int]] = []
    task = asyncio.create_task(run_sweep(one_by_one(settings), pool, paced, source="admin",
                                         progress=seen.append))

    def live_counts() -> dict[str, Any] | None:
        run = running_run(db)
        counts = run["counts"] if run else {}
        return counts if counts.get("synced", 0) > 0 else None

    counts = await eventually(live_counts)
    assert counts["phase"] == "push" and counts["queued"] == 40 and counts["total"] == 40
    assert 0 < counts["synced"] < 40 and counts["remaining"] == 40 - counts["synced"]
    result = await task
    assert result.synced == 40 and result.remaining == 0
    assert seen[-1]["synced"] == 40 and any(0 < s.get("synced", 0) < 40 for s in seen)


async def test_a_sweep_cut_by_its_budget_resumes_next_time(
        db: psycopg.Connection[Any], pool: Pool, paced: BrevoClient, settings: Settings,
        store: Any) -> None:
    add_customers(db, 30)
    missed(db)
    settings = one_by_one(settings)
    first = await run_sweep(settings, pool, paced, source="cron", budget=1.0)
    assert first.status == "partial" and first.success
    assert 0 < first.synced < 30 and first.remaining == 30 - first.synced
    assert "budget ran out" in first.message
    assert first.counts["seconds"] < 3.0
    second = await run_sweep(settings, pool, paced, source="cron", budget=60)
    assert second.status == "done" and second.remaining == 0
    assert first.synced + second.synced == 30 and store.count() == 30


async def test_a_run_left_running_by_a_dead_process_is_closed(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings) -> None:
    dead = db.execute("INSERT INTO brevo_sync.runs (kind, source) VALUES ('reconcile', 'cron')"
                      " RETURNING id").fetchone()
    assert dead is not None
    await run_sweep(settings, pool, brevo, source="test")
    row = db.execute("SELECT status, message, finished_at FROM brevo_sync.runs WHERE id = %s",
                     (dead["id"],)).fetchone()
    assert row is not None and row["status"] == "failed" and row["finished_at"]
    assert "interrupted" in row["message"]


def add_history(db: psycopg.Connection[Any], count: int, days_ago: int) -> None:
    db.execute("INSERT INTO brevo_sync.history (at, action, outcome, source)"
               " SELECT now() - make_interval(days => %s), 'create', 'ok', 'test'"
               " FROM generate_series(1, %s)", (days_ago, count))


def add_run(db: psycopg.Connection[Any], days_ago: int, status: str = "done") -> None:
    db.execute("INSERT INTO brevo_sync.runs (kind, source, started_at, finished_at, status)"
               " VALUES ('reconcile', 'cron', now() - make_interval(days => %s),"
               " CASE WHEN %s <> 'running' THEN now() - make_interval(days => %s) END, %s)",
               (days_ago, status, days_ago, status))


def add_webhook_events(db: psycopg.Connection[Any], count: int, days_ago: int) -> None:
    db.execute("INSERT INTO brevo_sync.webhook_events"
               " (received_at, event, email_lower, ts_event, outcome)"
               " SELECT now() - make_interval(days => %s), 'unsubscribe',"
               " 'w' || n || '@example.com', n + %s * 1000, 'unknown'"
               " FROM generate_series(1, %s) AS n",
               (days_ago, days_ago, count))


def count(db: psycopg.Connection[Any], table: str) -> int:
    row = db.execute(f"SELECT count(*) AS n FROM brevo_sync.{table}").fetchone()
    return int(row["n"]) if row else 0


async def test_housekeeping_prunes_old_rows_a_bounded_batch_at_a_time(
        db: psycopg.Connection[Any], pool: Pool) -> None:
    add_history(db, 12, days_ago=100)
    add_history(db, 3, days_ago=10)
    for _ in range(3):
        add_run(db, days_ago=100)
    add_run(db, days_ago=100, status="running")
    add_run(db, days_ago=1)
    add_webhook_events(db, 7, days_ago=100)
    add_webhook_events(db, 2, days_ago=10)
    out_of_time = await prune(pool, 90, deadline=time.monotonic() - 1, batch=5)
    assert out_of_time == Pruned(history=5, runs=3, complete=False, webhook_events=5)
    rest = await prune(pool, 90, batch=5)
    assert rest == Pruned(history=7, runs=0, complete=True, webhook_events=2)
    assert count(db, "history") == 3 and count(db, "runs") == 2
    assert count(db, "webhook_events") == 2


async def test_the_sweep_prunes_what_is_older_than_the_retention(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings) -> None:
    add_history(db, 4, days_ago=40)
    add_history(db, 2, days_ago=20)
    add_run(db, days_ago=40)
    add_webhook_events(db, 3, days_ago=40)
    result = await run_sweep(dataclasses.replace(settings, history_retention_days=30), pool,
                             brevo, source="test")
    assert result.counts["pruned"] == {"history": 4, "runs": 1, "webhook_events": 3,
                                       "complete": True}
    assert count(db, "history") == 2 and count(db, "runs") == 1


@pytest.fixture
def fake_brevo() -> Iterator[str]:
    with emulator_process() as base:
        yield base


def test_the_command_line_sweeps_and_prints_the_result(
        db: psycopg.Connection[Any], database_url: str, fake_brevo: str) -> None:
    add_customers(db, 4)
    missed(db)
    env = {**os.environ, "DATABASE_URL": database_url, "BREVO_API_KEY": "xkeysib-cli-sweep",
           "BREVO_BASE_URL": fake_brevo, "BREVO_LIST_ID": "2"}
    done = subprocess.run([sys.executable, "-m", "brevo_sync.cli", "reconcile", "--budget", "60"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["success"] and body["synced"] == 4 and body["remaining"] == 0
    assert "xkeysib-cli-sweep" not in done.stdout + done.stderr
    run = db.execute("SELECT source, status FROM brevo_sync.runs").fetchone()
    assert run == {"source": "cli", "status": "done"}
