"""A backlog drained through imports that Brevo queues for minutes, with Brevo's rate limits on.

The emulator (its own process) enforces Brevo's limits and holds every import queued for
--queued seconds before it starts, as Brevo does. One process posts the backlog's imports and
stops (a restart); another carries on from what the database holds. Prints the time for every
customer to be in Brevo with its id written back, the import calls against the batches, the
/processes polls (Brevo allows 100 "other" calls an hour for the whole account) and the rest.

    python -m bench.bench_import_queued [--customers 5000] [--queued 120]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import httpx
import psycopg

from bench.support import DEFAULT_ADMIN_URL, emulator_process, load_customers, scratch_database
from brevo_sync.config import Settings
from brevo_sync.logs import configure as configure_logs
from brevo_sync.wiring import client_from, engine_from, pool_from, prepare_brevo

IMPORT_POST = ("POST", "/v3/contacts/import")
POLLS = (("GET", "/v3/processes"), ("GET", "/v3/processes/{processId}"))
LISTING = ("GET", "/v3/contacts")
ONE_BY_ONE = ("POST", "/v3/contacts")


def calls_by_route(base_v3: str) -> Counter[tuple[str, str]]:
    root = base_v3.removesuffix("/v3")
    rows = httpx.get(root + "/_emulator/calls", timeout=10).json()["calls"]
    counted: Counter[tuple[str, str]] = Counter()
    for row in rows:
        counted[(row["method"], row["path"])] += row["count"]
    return counted


def refused(base_v3: str) -> int:
    root = base_v3.removesuffix("/v3")
    rows = httpx.get(root + "/_emulator/calls", timeout=10).json()["calls"]
    return sum(row["count"] for row in rows if row["status"] == 429)


def in_brevo(base_v3: str) -> int:
    root = base_v3.removesuffix("/v3")
    return int(httpx.get(root + "/_emulator/contacts", timeout=30).json()["count"])


def one(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


async def run(url: str, base: str, customers: int) -> dict[str, float]:
    settings = Settings.from_env({"DATABASE_URL": url, "BREVO_API_KEY": "xkeysib-bench",
                                  "BREVO_BASE_URL": base, "BREVO_LIST_ID": "2"})
    load_customers(url, customers)
    started = time.perf_counter()
    async with pool_from(settings, "bench-import-1") as pool, client_from(settings) as client:
        await prepare_brevo(client)
        first = await engine_from(settings, pool, client, source="bench").drain(
            wait_imports=False)
    posted_at = time.perf_counter() - started
    # A new process: nothing in memory, only what the database holds.
    async with pool_from(settings, "bench-import-2") as pool, client_from(settings) as client:
        engine = engine_from(settings, pool, client, source="bench")
        while one(url, "SELECT count(*) FROM customers WHERE brevo_contact_id IS NULL"):
            await engine.drain()
    return {"seconds": time.perf_counter() - started, "posted_at": posted_at,
            "imports_posted_before_restart": first.bulk_imports}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--queued", type=float, default=120.0,
                        help="seconds the emulator holds each import queued")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    configure_logs("WARNING")  # one line per push would bury the figures

    flags = ("--rate-limits", "--import-queue-seconds", str(args.queued))
    with scratch_database(args.database_url) as url, emulator_process(*flags) as base:
        figures = asyncio.run(run(url, base, args.customers))
        calls = calls_by_route(base)
        contacts = in_brevo(base)
        written = one(url, "SELECT count(*) FROM customers WHERE brevo_contact_id IS NOT NULL")
        batches = one(url, "SELECT count(*) FROM brevo_sync.imports WHERE process_id IS NOT NULL")
        pending = one(url, "SELECT count(*) FROM brevo_sync.queue")
        too_many = refused(base)
    print(f"{args.customers} customers, imports queued {args.queued:.0f} s, Brevo's rate limits"
          " on; one process posted and stopped, a second one carried on")
    print(f"  in Brevo: {contacts}; ids written back: {written}; still queued: {pending}")
    print(f"  batches: {batches}; import calls: {calls[IMPORT_POST]}"
          f" (posted {figures['posted_at']:.1f} s after the start)")
    print(f"  /processes polls: {sum(calls[p] for p in POLLS)}; contact listings:"
          f" {calls[LISTING]};"
          f" one-by-one pushes: {calls[ONE_BY_ONE]}; 429 answers: {too_many};"
          f" Brevo calls in all: {sum(calls.values())}")
    print(f"  total time: {figures['seconds']:.1f} s")


if __name__ == "__main__":
    main()
