"""A resync of --customers rows landing on a queue whose statistics say it is empty, claimed
and drained into the emulator enforcing Brevo's limits: the old claim against the current one.

    python -m bench.bench_stale_stats [--customers 50000] [--before-limit 90]

The stale statistics are what autoanalyze records on an idle queue: the queue held rows, was
drained, was analyzed empty (pages left, no rows), and autovacuum is off for the run so
nothing refreshes them. Then every customer is queued at once (a resync).

1. One claim of a bulk batch (20,000 rows, rolled back), for each statement, with the stale
   statistics and after a fresh ANALYZE. The old statement runs under a statement_timeout of
   --before-limit seconds, so it cannot run forever.
2. A drain of the whole backlog into Brevo (ids written back), for each statement. The old one
   runs with every statement bounded by what is left of --before-limit seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator

import psycopg

from bench.support import (
    DEFAULT_ADMIN_URL,
    emulator_calls,
    emulator_process,
    load_customers,
    scratch_database,
)
from brevo_sync import engine as engine_module
from brevo_sync.config import Settings
from brevo_sync.db import q, statement_deadline
from brevo_sync.engine import BULK_BATCH
from brevo_sync.logs import configure as configure_logs
from brevo_sync.wiring import client_from, engine_from, pool_from, prepare_brevo

LIMIT_FLAGS = ("--rate-limits",)

# The claim as it was before it was reshaped: a join to a LIMIT ... SKIP LOCKED subquery,
# which a planner that believes the queue empty runs again for every row it updates.
NAIVE_CLAIM = """
UPDATE brevo_sync.queue AS q
SET claimed_until = now() + make_interval(secs => %(lease)s),
    claimed_by = %(worker)s,
    attempts = q.attempts + 1
FROM (
    SELECT customer_id FROM brevo_sync.queue
    WHERE next_attempt_at <= now()
      AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY first_queued_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS ready
WHERE q.customer_id = ready.customer_id
RETURNING q.customer_id, q.version, q.deleted, q.deleted_email, q.deleted_contact_id, q.attempts
"""


def stale_resync(url: str, customers: int) -> None:
    """Customers in, the queue analyzed empty after earlier work, then every customer queued."""
    load_customers(url, customers, queue=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE brevo_sync.queue SET (autovacuum_enabled = false)")
        conn.execute("INSERT INTO brevo_sync.queue (customer_id) SELECT id FROM customers")
        conn.execute("DELETE FROM brevo_sync.queue")
        conn.execute("ANALYZE brevo_sync.queue")
        conn.execute("INSERT INTO brevo_sync.queue (customer_id, reason)"
                     " SELECT id, 'resync' FROM customers")


def time_claim(url: str, statement: str, limit_seconds: float) -> tuple[float, int | None]:
    """(seconds, rows leased) for one bulk claim, rolled back; rows None when cancelled."""
    params = {"limit": BULK_BATCH, "lease": 900, "worker": "bench"}
    with psycopg.connect(url) as conn:
        conn.execute(f"SET statement_timeout = {round(limit_seconds * 1000)}")
        started = time.perf_counter()
        try:
            rows = len(conn.execute(statement, params).fetchall())
        except psycopg.errors.QueryCanceled:
            rows = None
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds, rows


def analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE brevo_sync.queue")


async def drain(url: str, base: str, claim: str, limit_seconds: float | None
                ) -> tuple[float, int, int, str]:
    """(seconds, customers in Brevo with ids, Brevo calls, how it ended)."""
    settings = Settings.from_env({"DATABASE_URL": url, "BREVO_API_KEY": "xkeysib-bench",
                                  "BREVO_BASE_URL": base, "BREVO_LIST_ID": "2"})
    calls_before = emulator_calls(base)
    ended = "drained"
    started = time.perf_counter()
    deadline = None if limit_seconds is None else time.monotonic() + limit_seconds
    with statement_deadline(deadline), using_claim(claim):
        async with pool_from(settings, "bench-stale") as pool, client_from(settings) as client:
            await prepare_brevo(client)
            engine = engine_from(settings, pool, client, source="bench")
            try:
                while await missing(url):
                    await engine.drain(deadline=deadline)
                    if deadline is not None and time.monotonic() >= deadline:
                        ended = f"stopped at the {limit_seconds:.0f} s limit"
                        break
            except psycopg.errors.QueryCanceled:
                ended = "claim cancelled by statement_timeout"
    seconds = time.perf_counter() - started
    customers = await synced(url)
    return seconds, customers, emulator_calls(base) - calls_before, ended


@contextlib.contextmanager
def using_claim(claim: str) -> Iterator[None]:
    """The engine's `claim` statement replaced by `claim` for the block."""
    saved = engine_module.q
    engine_module.q = lambda name: claim if name == "claim" else q(name)
    try:
        yield
    finally:
        engine_module.q = saved


async def missing(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(
            "SELECT count(*) FROM customers WHERE marketing_opt_in"
            " AND brevo_contact_id IS NULL")).fetchone()
    return int(row[0]) if row else 0


async def synced(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(
            "SELECT count(*) FROM customers WHERE brevo_contact_id IS NOT NULL")).fetchone()
    return int(row[0]) if row else 0


def claim_line(label: str, seconds: float, rows: int | None) -> str:
    if rows is None:
        return f"  {label}: cancelled by statement_timeout after {seconds:.1f} s"
    return f"  {label}: {rows} rows leased in {seconds:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--before-limit", type=float, default=90.0)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    configure_logs("WARNING")  # one line a push would bury the figures
    statements = {"before (naive join)": NAIVE_CLAIM, "after (index-driven CTE)": q("claim")}

    print(f"one claim of {BULK_BATCH} rows from {args.customers} queued:")
    with scratch_database(args.database_url) as url:
        stale_resync(url, args.customers)
        for label, statement in statements.items():
            print(claim_line(f"{label}, stale statistics",
                             *time_claim(url, statement, args.before_limit)))
        analyze(url)
        for label, statement in statements.items():
            print(claim_line(f"{label}, fresh ANALYZE",
                             *time_claim(url, statement, args.before_limit)))

    print(f"drain of {args.customers} into the rate-limited emulator, stale statistics:")
    for label, statement in statements.items():
        limit = args.before_limit if statement is NAIVE_CLAIM else None
        with scratch_database(args.database_url) as url, \
                emulator_process(*LIMIT_FLAGS) as base:
            stale_resync(url, args.customers)
            seconds, done, calls, ended = asyncio.run(drain(url, base, statement, limit))
        print(f"  {label}: {done}/{args.customers} in Brevo with ids written back in"
              f" {seconds:.1f} s, {calls} Brevo calls ({ended})")


if __name__ == "__main__":
    main()
