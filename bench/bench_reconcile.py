"""Reconciliation sweeps against the emulator enforcing Brevo's limits (10/s, 36,000/h for
contacts, 100/h for everything else), in its own process, as the cron route would run them.

    python -m bench.bench_reconcile [--customers 100000] [--small 10000]

1. `--customers` opted-in customers (COPY, trigger bypassed: nobody queued them) and an empty
   Brevo account: the first sweep finds them all missing.
2. 1 % of the rows changed behind the sync's back (trigger bypassed again): the second sweep.
3. Nothing changed: the third sweep.
4. Peak RSS of a first sweep at `--customers` against one at `--small`, each in a fresh
   process with a fresh database and emulator.

Every sweep runs in a child process (`--child`), which reports its own time and peak RSS;
Brevo calls are counted by the emulator. The naive figure is one call per customer at
Brevo's 10 calls a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import psycopg

from bench.support import (
    DEFAULT_ADMIN_URL,
    copy_customers,
    emulator_calls,
    emulator_process,
    scratch_database,
)
from brevo_sync.config import Settings
from brevo_sync.logs import configure as configure_logs
from brevo_sync.reconcile import run_sweep
from brevo_sync.wiring import client_from, pool_from

NAIVE_CALLS_PER_SECOND = 10.0


def load_customers(url: str, count: int) -> None:
    """COPY customers in, half of them with a (unique, valid) mobile number; no queue rows."""
    def line(i: int) -> str:
        phone = f"+336{i:08d}" if i % 2 == 0 else "\\N"
        welcome = "t" if i % 7 == 0 else "f"
        return f"c{i}@example.com\tFirst{i}\tLast{i}\t{phone}\tt\t{welcome}\n"

    copy_customers(url, (line(i) for i in range(count)), queue=False)


def change_rows(url: str, share: float) -> int:
    """Change `share` of the customers' names without the trigger: only a sweep finds them."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        total = conn.execute("SELECT count(*) FROM customers").fetchone()
        n = round((total[0] if total else 0) * share)
        conn.execute("UPDATE customers SET last_name = last_name || ' Jr'"
                     " WHERE id IN (SELECT id FROM customers ORDER BY random() LIMIT %s)", (n,))
    return n


def process_polls(base: str) -> int:
    """Calls to /v3/processes: Brevo's "other endpoints" group, 100 an hour."""
    root = base.removesuffix("/v3")
    rows = httpx.get(root + "/_emulator/calls", timeout=10).json()["calls"]
    return sum(int(r["count"]) for r in rows if r["path"].startswith("/v3/processes"))


def sweep_in_child(url: str, base: str) -> dict[str, Any]:
    """One sweep in a fresh process; its answer, with the Brevo calls the emulator counted."""
    calls_before, polls_before = emulator_calls(base), process_polls(base)
    with tempfile.TemporaryFile("w+") as logs:
        # The sweep logs a line per push, as in production; kept out of this process's memory.
        done = subprocess.run(
            [sys.executable, "-m", "bench.bench_reconcile", "--child", url, base],
            stdout=subprocess.PIPE, stderr=logs, text=True, timeout=900)
        if done.returncode != 0:
            logs.seek(0)
            raise RuntimeError(f"the sweep failed:\n{logs.read()[-3000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    answer["calls"] = emulator_calls(base) - calls_before
    answer["polls"] = process_polls(base) - polls_before
    return answer


async def child_sweep(url: str, base: str) -> dict[str, Any]:
    settings = Settings.from_env({"DATABASE_URL": url, "BREVO_API_KEY": "xkeysib-bench",
                                  "BREVO_BASE_URL": base, "BREVO_LIST_ID": "2"})
    async with pool_from(settings, "bench-reconcile") as pool, \
            client_from(settings) as client:
        started = time.perf_counter()
        result = await run_sweep(settings, pool, client, source="bench",
                                 budget=settings.reconcile_budget_seconds)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_mb": peak_rss_mb(),
            "status": result.status, "synced": result.synced, "failed": result.failed,
            "remaining": result.remaining, "total": result.total,
            "queued": result.counts.get("queued"), "mirror": result.counts.get("mirror"),
            "bulk_imports": result.counts.get("bulk_imports", 0), "message": result.message}


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux ru_maxrss carries
    over the parent's RSS at fork time through exec, which would measure the bench, not the
    sweep."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(label: str, answer: dict[str, Any], customers: int, verdict: str = "",
           changed: int | None = None) -> None:
    print(f"{label}: {answer['seconds']:.1f} s, {answer['calls']} Brevo calls"
          f" ({answer['polls']} of them /processes polls), {answer['synced']} synced,"
          f" {answer['failed']} failed, {answer['remaining']} left,"
          f" peak RSS {answer['rss_mb']:.0f} MB {verdict}")
    print(f"    naive loop, one call per customer: {customers:,} calls,"
          f" {naive_seconds(customers):,.0f} s ({naive_seconds(customers) / 3600:.1f} h) at 10/s")
    if changed is not None:
        print(f"    naive, pushing only the {changed:,} changed rows: {changed:,} calls,"
              f" {naive_seconds(changed):,.0f} s")
    print(f"    {answer['message']}")


def naive_seconds(calls: int) -> float:
    return calls / NAIVE_CALLS_PER_SECOND


def check(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--child", nargs=2, metavar=("DSN", "BASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        configure_logs("INFO", json=True)  # as the cron function logs: one line per push
        print(json.dumps(asyncio.run(child_sweep(*args.child)), default=str))
        return

    n = args.customers
    with scratch_database(args.database_url) as url, emulator_process("--rate-limits") as base:
        load_customers(url, n)
        first = sweep_in_child(url, base)
        report(f"first sweep, {n} missing", first, n,
               check(first["seconds"] <= 120 and first["remaining"] == 0) + " (<= 120 s)")
        changed = change_rows(url, 0.01)
        second = sweep_in_child(url, base)
        report(f"second sweep, {changed} rows changed", second, n,
               check(second["seconds"] <= 20 and second["calls"] <= 120)
               + " (<= 20 s, <= 120 calls)", changed=changed)
        third = sweep_in_child(url, base)
        report("third sweep, no drift", third, n,
               check(third["seconds"] <= 5 and third["calls"] <= 3) + " (<= 5 s, <= 3 calls)")
    with scratch_database(args.database_url) as url, emulator_process("--rate-limits") as base:
        load_customers(url, args.small)
        small = sweep_in_child(url, base)
        report(f"first sweep, {args.small} missing", small, args.small)
    ratio = first["rss_mb"] / small["rss_mb"]
    print(f"peak RSS: {first['rss_mb']:.0f} MB at {n} vs {small['rss_mb']:.0f} MB at "
          f"{args.small}: {ratio:.2f}x {check(ratio <= 2)} (<= 2x)")


if __name__ == "__main__":
    main()
