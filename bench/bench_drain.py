"""A backlog of opted-in customers drained into the emulator enforcing Brevo's limits.

Prints the time for all of them to be in Brevo with ids written back, the Brevo calls it
took, and the throughput of a naive one-call-per-customer loop timed for --naive-seconds
against a fresh emulator under the same limits.

    python -m bench.bench_drain [--customers 10000] [--naive-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
import psycopg

from bench.support import (
    DEFAULT_ADMIN_URL,
    emulator_calls,
    emulator_process,
    load_customers,
    scratch_database,
)
from brevo_sync.config import Settings
from brevo_sync.wiring import client_from, engine_from, pool_from, prepare_brevo

LIMIT_FLAGS = ("--rate-limits",)


async def drain(url: str, base: str, customers: int) -> tuple[float, int]:
    settings = Settings.from_env({"DATABASE_URL": url, "BREVO_API_KEY": "xkeysib-bench",
                                  "BREVO_BASE_URL": base, "BREVO_LIST_ID": "2"})
    load_customers(url, customers)
    calls_before = emulator_calls(base)
    started = time.perf_counter()
    async with pool_from(settings, "bench-drain") as pool, client_from(settings) as client:
        await prepare_brevo(client)
        engine = engine_from(settings, pool, client, source="bench")
        while await missing(url):
            await engine.drain()
    return time.perf_counter() - started, emulator_calls(base) - calls_before


async def missing(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(
            "SELECT count(*) FROM customers WHERE marketing_opt_in"
            " AND brevo_contact_id IS NULL")).fetchone()
    return int(row[0]) if row else 0


def naive(url: str, base: str, seconds: float) -> tuple[int, int]:
    """One POST per customer, waiting out each 429 as Brevo's headers say; ids written back."""
    load_customers(url, 20_000, prefix="naive")
    pushed = calls = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as conn, httpx.Client(
            base_url=base, headers={"api-key": "xkeysib-bench"}, timeout=10) as http:
        rows = conn.execute("SELECT id, email, first_name, last_name FROM customers"
                            " WHERE email LIKE 'naive%'").fetchall()
        for customer_id, email, first, last in rows:
            while time.monotonic() < deadline:
                calls += 1
                response = http.post("/contacts", json={
                    "email": email, "updateEnabled": True, "listIds": [2],
                    "attributes": {"FIRSTNAME": first, "LASTNAME": last}})
                if response.status_code == 429:
                    time.sleep(float(response.headers.get("x-sib-ratelimit-reset", "1")))
                    continue
                if response.status_code == 201:
                    conn.execute("UPDATE customers SET brevo_contact_id = %s WHERE id = %s",
                                 (response.json()["id"], customer_id))
                pushed += 1
                break
            if time.monotonic() >= deadline:
                break
    return pushed, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--naive-seconds", type=float, default=60.0)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()

    with scratch_database(args.database_url) as url, emulator_process(*LIMIT_FLAGS) as base:
        seconds, calls = asyncio.run(drain(url, base, args.customers))
    rate = args.customers / seconds
    print(f"engine: {args.customers} customers in Brevo with ids written back in "
          f"{seconds:.1f} s ({rate:.0f}/s) using {calls} Brevo calls")
    with scratch_database(args.database_url) as url, emulator_process(*LIMIT_FLAGS) as base:
        pushed, naive_calls = naive(url, base, args.naive_seconds)
    naive_rate = pushed / args.naive_seconds
    print(f"naive loop: {pushed} customers in {args.naive_seconds:.0f} s "
          f"({naive_rate:.1f}/s, {naive_calls} calls); {args.customers} would take "
          f"{args.customers / naive_rate:.0f} s")
    print(f"throughput ratio engine/naive: {rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
