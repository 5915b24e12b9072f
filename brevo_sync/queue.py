"""The queue: pending work, one row per customer (brevo_sync.queue, SQL in sql/queue.sql).

The trigger (migrations/003) enqueues a row on every change of a synced column; the listener,
the sweep and the admin page claim rows, push them, and release them here. What is written:

- `enqueue` (an admin's push, an identity fix) and `enqueue_drift` (the sweep) add rows; a
  row already pending is kept as it is.
- `claim` / `claim_one` lease ready rows for a while (`claimed_until`, `claimed_by`) and
  count the attempt.
- A push's outcome releases its row: `release_done` drops it (or leaves it pending when it
  changed meanwhile), `release_retry` backs it off, `release_unclaimed` gives back a lease
  never pushed, its attempt not counted.
- `end_leases` ends a stopped listener's leases now; claimed_by stays as a trace that a push
  may have reached Brevo unrecorded.
- `arm` asks the trigger for a NOTIFY on the next change; `depth` counts what is pending.

Never holding up the application's writes — one way, `each_free_row`: the trigger writes the
queue inside the application's own transactions, so the sync must never wait on a lock while
holding others (it would hold the application up, or deadlock with it). A set-based
statement runs in its own short transaction that does not wait: it skips the rows held right
now (FOR UPDATE SKIP LOCKED, returning the rows it handled), or, where rows cannot be skipped
(an insert meeting the application's uncommitted insert), gives up after `short_lock_wait`.
The rows it left are then written one statement each, each its own transaction, which waits
on nothing but its own row. The write-back of contact ids and the sweep's unsubscribes write
the customers table the same way, and an import (brevo_sync.importer, imports.sql) takes its
rows from the queue and gives them back the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg

from brevo_sync.db import q

# Any autocommit connection: a pool's, or the listener's own.
Conn = psycopg.AsyncConnection[Any]
T = TypeVar("T")

# Rows enqueued by the sweep per statement.
ENQUEUE_BATCH = 1000


async def each_free_row(conn: Conn, rows: Sequence[T], *, batch: str, one: str,
                        batch_params: Callable[[Sequence[T]], dict[str, Any]],
                        one_params: Callable[[T], dict[str, Any]],
                        key: Callable[[T], Any], size: int | None = None) -> int:
    """Run `batch` over `rows` (`size` at a time, or all at once), then `one` for each row it
    left, as the module's docstring says; returns the rows affected. A `batch` that returns
    rows names, in its first column, the keys (`key(row)`) of the rows it handled; one that
    returns none handled every row unless it gave up on a lock wait."""
    done = 0
    chunks = [rows] if size is None else [rows[i:i + size] for i in range(0, len(rows), size)]
    for chunk in chunks:
        left: Sequence[T] = chunk
        if len(chunk) > 1:
            try:
                async with conn.transaction():
                    await conn.execute(q("short_lock_wait"))
                    cursor = await conn.execute(batch, batch_params(chunk))
                    if cursor.description is None:
                        done += max(0, cursor.rowcount)
                        handled = {key(r) for r in chunk}
                    else:
                        handled = {_first(r) for r in await cursor.fetchall()}
                        done += len(handled)
            except psycopg.errors.LockNotAvailable:
                handled = set()
            left = [r for r in chunk if key(r) not in handled]
        for row in left:
            done += max(0, (await conn.execute(one, one_params(row))).rowcount)
    return done


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


async def enqueue(conn: Conn, customer_ids: Sequence[UUID], reason: str) -> None:
    """Queue existing customers by hand; a row already pending is kept as is."""
    await conn.execute(q("enqueue"), {"ids": list(customer_ids), "reason": reason})


async def enqueue_drift(conn: Conn, customer_ids: Sequence[UUID], reason: str) -> int:
    """Queue what a sweep found (deleted customers too, from their sync state); returns how
    many rows were added."""
    def params(ids: Sequence[UUID]) -> dict[str, Any]:
        return {"ids": list(ids), "reason": reason}

    return await each_free_row(conn, customer_ids, batch=q("drift_enqueue"),
                               one=q("drift_enqueue"), batch_params=params,
                               one_params=lambda cid: params([cid]), key=lambda cid: cid,
                               size=ENQUEUE_BATCH)


async def claim(conn: Conn, *, worker: str, limit: int, lease: float) -> list[dict[str, Any]]:
    """Lease up to `limit` ready rows, oldest first, for `lease` seconds."""
    return await (await conn.execute(q("claim"), {
        "worker": worker, "limit": limit, "lease": lease})).fetchall()


async def claim_one(conn: Conn, customer_id: UUID, *, worker: str, lease: float
                    ) -> list[dict[str, Any]]:
    """Lease this customer's row, due or not; [] when someone else holds it."""
    return await (await conn.execute(q("claim_one"), {
        "customer_id": customer_id, "worker": worker, "lease": lease})).fetchall()


async def release_done(conn: Conn, rows: Sequence[tuple[UUID, int]]) -> None:
    """(customer, version) pushed: drop each row unless it changed during the push."""
    await each_free_row(
        conn, [{"customer_id": c, "version": v} for c, v in rows],
        batch=q("release_done_batch"), one=q("release_done"),
        batch_params=lambda rs: {"customer_ids": [r["customer_id"] for r in rs],
                                 "versions": [r["version"] for r in rs]},
        one_params=lambda r: r, key=lambda r: r["customer_id"])


async def release_retry(conn: Conn, rows: Sequence[tuple[UUID, int, float, str | None]]
                        ) -> None:
    """(customer, version, delay, error): try again after `delay` seconds, or at once when
    the row changed meanwhile."""
    await each_free_row(
        conn, [{"customer_id": c, "version": v, "delay": d, "error": e} for c, v, d, e in rows],
        batch=q("release_retry_batch"), one=q("release_retry"),
        batch_params=lambda rs: {"customer_ids": [r["customer_id"] for r in rs],
                                 "versions": [r["version"] for r in rs],
                                 "delays": [r["delay"] for r in rs],
                                 "errors": [r["error"] for r in rs]},
        one_params=lambda r: r, key=lambda r: r["customer_id"])


async def release_unclaimed(conn: Conn, customer_ids: Sequence[UUID], *, worker: str) -> None:
    """Give back leases `worker` never pushed, their attempt not counted."""
    await each_free_row(
        conn, list(customer_ids), batch=q("release_unclaimed_batch"),
        one=q("release_unclaimed"),
        batch_params=lambda ids: {"customer_ids": list(ids), "worker": worker},
        one_params=lambda cid: {"customer_id": cid, "worker": worker}, key=lambda cid: cid)


async def end_leases(conn: Conn, worker: str) -> int:
    """End the leases `worker` still holds now instead of at expiry; returns how many."""
    rows = await (await conn.execute(q("leases_held"), {"worker": worker})).fetchall()
    return await each_free_row(
        conn, [r["customer_id"] for r in rows], batch=q("end_lease_batch"), one=q("end_lease"),
        batch_params=lambda ids: {"customer_ids": list(ids), "worker": worker},
        one_params=lambda cid: {"customer_id": cid, "worker": worker}, key=lambda cid: cid)


async def arm(conn: Conn) -> bool:
    """Ask the trigger to NOTIFY on the next change. True when the flag was down."""
    return bool((await conn.execute(q("arm"))).rowcount)


async def depth(conn: Conn) -> dict[str, Any] | None:
    """pending, ready and oldest_age_seconds of the queue."""
    row: dict[str, Any] | None = await (await conn.execute(q("depth"))).fetchone()
    return row
