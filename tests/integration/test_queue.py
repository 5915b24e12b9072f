"""The queue's one way of never holding up the application (brevo_sync.queue.each_free_row):
rows an open application transaction holds are skipped by the set-based statement and written
on their own afterwards; the others are written at once, and the application can take any
of them meanwhile without a deadlock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest

from brevo_sync import queue
from brevo_sync.db import Pool
from tests.factories import add_customers

pytestmark = pytest.mark.anyio

Db = psycopg.Connection[Any]


async def until(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def count(db: Db, where: str, ids: list[UUID]) -> int:
    row = db.execute(f"SELECT count(*) AS n FROM brevo_sync.queue WHERE customer_id = ANY(%s)"
                     f" AND {where}", (ids,)).fetchone()
    return int(row["n"]) if row else 0


async def with_one_row_held(db: Db, database_url: str, ids: list[UUID], held: UUID,
                            work: Callable[[], Awaitable[Any]], done: Callable[[], bool]
                            ) -> Any:
    """Run `work` while an application transaction holds `held`'s queue row (its trigger's
    update): `done` must come true for the other rows before the application commits."""
    app = psycopg.connect(database_url)  # not autocommit: an open transaction
    try:
        app.execute("UPDATE customers SET updated_at = now(), first_name = 'x' WHERE id = %s",
                    (held,))
        task = asyncio.create_task(work())
        await until("the rows the application does not hold", done)
        assert not task.done(), "the held row cannot have been written yet"
        # The application takes more rows the sync has written: no deadlock.
        app.execute("UPDATE customers SET updated_at = now() WHERE id = ANY(%s)", (ids[:3],))
        app.commit()
        return await asyncio.wait_for(task, 20)
    finally:
        app.close()


async def claimed(pool: Pool, n: int) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        rows = await queue.claim(conn, worker="w1", limit=n, lease=60)
    assert len(rows) == n
    return rows


async def test_releases_skip_a_row_the_application_holds(
        db: Db, pool: Pool, database_url: str) -> None:
    ids = add_customers(db, 20)
    rows = await claimed(pool, 20)
    held = ids[7]

    async def release() -> None:
        async with pool.connection() as conn:
            await queue.release_done(conn, [(r["customer_id"], r["version"]) for r in rows])

    others = [i for i in ids if i != held]
    await with_one_row_held(db, database_url, ids, held, release,
                            lambda: count(db, "true", others) == 0)
    # The held row changed meanwhile (the application's update): it stays pending, unleased.
    assert count(db, "claimed_by IS NULL", [held]) == 1


async def test_a_stopped_listener_ends_its_leases_but_a_held_one_after_the_others(
        db: Db, pool: Pool, database_url: str) -> None:
    ids = add_customers(db, 20)
    await claimed(pool, 20)
    held = ids[3]

    async def end() -> int:
        async with pool.connection() as conn:
            return await queue.end_leases(conn, "w1")

    others = [i for i in ids if i != held]
    ended = await with_one_row_held(db, database_url, ids, held, end,
                                    lambda: count(db, "claimed_until <= now()", others) == 19)
    assert ended == 20
    # claimed_by stays, as a trace that a push may have reached Brevo unrecorded.
    assert count(db, "claimed_by = 'w1' AND claimed_until <= now()", ids) == 20


async def test_the_sweep_enqueues_drift_a_batch_at_a_time(db: Db, pool: Pool) -> None:
    ids = add_customers(db, 25)
    db.execute("DELETE FROM brevo_sync.queue")
    async with pool.connection() as conn:
        added = await queue.enqueue_drift(conn, ids[:10], "reconcile:missing")
        again = await queue.enqueue_drift(conn, ids, "reconcile:missing")
    assert (added, again) == (10, 15), "a pending row is kept as it is"
    assert count(db, "reason = 'reconcile:missing'", ids) == 25
