"""Stored contact ids from another Brevo account, against the emulator enforcing Brevo's limits.

    python -m bench.bench_stale_ids [--customers 20] [--strangers 25]

A database restored elsewhere (or a Neon branch, another account's key, a restarted
emulator): `--customers` customers hold the ids 1..N an earlier account gave them, and the
account the sync now talks to holds `--strangers` other people under ids 1..M. Two runs, each
on a fresh database and emulator:

1. listener: every customer is pending (they changed), the mirror knows nothing of this
   account; the engine drains the queue, checking each stored id with Brevo.
2. listener, restored mirror: the same, with the old account's mirror restored alongside;
   the engine finds the mirror was listed in another account before believing any of it.
3. sweep: nothing is pending, the old account's mirror is restored; a reconciliation sweep
   (as the hourly cron runs it) refreshes the mirror, then repairs.

Printed for each: strangers' contacts altered (must be 0), customers present in this account
under their own ids (must be all), Brevo calls made, and the time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

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
from brevo_sync.engine import DrainReport
from brevo_sync.logs import configure as configure_logs
from brevo_sync.reconcile import SweepResult, run_sweep
from brevo_sync.wiring import client_from, engine_from, pool_from, prepare_brevo


def add_strangers(base: str, count: int) -> None:
    """Another account's own people, put straight into the emulator: ids 1..count."""
    people = [{"email": f"stranger{i}@other-account.example", "listIds": [2],
               "attributes": {"FIRSTNAME": f"Stranger{i}", "LASTNAME": "Elsewhere"}}
              for i in range(count)]
    answer = httpx.post(base.removesuffix("/v3") + "/_emulator/contacts",
                        json={"contacts": people}, timeout=10)
    answer.raise_for_status()
    assert answer.json()["ids"] == list(range(1, count + 1))


def brevo_contacts(base: str) -> dict[int, dict[str, Any]]:
    found = httpx.get(base.removesuffix("/v3") + "/_emulator/contacts", timeout=30).json()
    return {int(c["id"]): c for c in found["contacts"]}


def restore_old_account(url: str, *, pending: bool, mirror: bool) -> None:
    """What the old account left in the database: each customer's id (1..N, by email order),
    sync_state as after a successful push, and optionally the old account's mirror."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # no queue rows
        conn.execute("UPDATE customers c SET brevo_contact_id = n.rank FROM ("
                     " SELECT id, row_number() OVER (ORDER BY email) AS rank FROM customers"
                     ") n WHERE n.id = c.id")
        conn.execute("INSERT INTO brevo_sync.sync_state (customer_id, email, brevo_contact_id,"
                     " status, last_synced_at, pushed_email)"
                     " SELECT id, lower(email), brevo_contact_id, 'synced', now(), lower(email)"
                     " FROM customers")
        if mirror:
            conn.execute(
                "INSERT INTO brevo_sync.contacts (id, email, first_name, last_name,"
                " used_welcome_offer, attributes, list_ids, created_at, modified_at)"
                " SELECT brevo_contact_id, lower(email), first_name, last_name, false,"
                " jsonb_build_object('FIRSTNAME', first_name, 'LASTNAME', last_name,"
                " 'USED_WELCOME_OFFER', false), '{2}', now(), now() FROM customers")
            conn.execute("UPDATE brevo_sync.mirror_state SET watermark = now(),"
                         " last_full_refresh_at = now(), brevo_count = (SELECT count(*)"
                         " FROM customers), account_mark = '1@2025-06-01T09:00:00+00:00'")
        if pending:
            conn.execute("INSERT INTO brevo_sync.queue (customer_id, reason)"
                         " SELECT id, 'change' FROM customers")


def calls_by_route(base: str) -> dict[str, int]:
    rows = httpx.get(base.removesuffix("/v3") + "/_emulator/calls", timeout=10).json()["calls"]
    return {f"{r['method']} {r['path'].removeprefix('/v3')} {r['status']}": int(r["count"])
            for r in rows}


def own_ids(url: str, contacts: dict[int, dict[str, Any]]) -> tuple[int, int]:
    """(customers whose stored id names a contact holding their email, customers)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT lower(email), brevo_contact_id FROM customers").fetchall()
    mine = sum(1 for email, cid in rows if cid in contacts and contacts[cid].get("email") == email)
    return mine, len(rows)


def forgotten(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM brevo_sync.history"
                           " WHERE action = 'forget_id'").fetchone()
    return int(row[0]) if row else 0


async def sync(url: str, base: str, how: str) -> DrainReport | SweepResult:
    settings = Settings.from_env({"DATABASE_URL": url, "BREVO_API_KEY": "xkeysib-bench",
                                  "BREVO_BASE_URL": base, "BREVO_LIST_ID": "2"})
    async with pool_from(settings, "bench-stale-ids") as pool, client_from(settings) as client:
        if how == SWEEP:
            return await run_sweep(settings, pool, client, source="bench")
        await prepare_brevo(client)
        return await engine_from(settings, pool, client, source="bench").drain()


LISTENER, RESTORED, SWEEP = "listener", "listener, restored mirror", "sweep"


def run(admin_url: str, customers: int, strangers: int, how: str) -> bool:
    with scratch_database(admin_url) as url, emulator_process("--rate-limits") as base:
        load_customers(url, customers, queue=False)
        restore_old_account(url, pending=how != SWEEP, mirror=how != LISTENER)
        add_strangers(base, strangers)
        before = brevo_contacts(base)
        calls, routes = emulator_calls(base), calls_by_route(base)
        started = time.perf_counter()
        result = asyncio.run(sync(url, base, how))
        seconds = time.perf_counter() - started
        calls = emulator_calls(base) - calls
        routes = {k: n - routes.get(k, 0) for k, n in calls_by_route(base).items()
                  if n > routes.get(k, 0)}
        after = brevo_contacts(base)
        altered = sum(1 for i, c in before.items() if after.get(i) != c)
        mine, total = own_ids(url, after)
        failed = result.failed
        print(f"{how}: {customers} customers holding ids 1..{customers} from another account,"
              f" this account holding {strangers} strangers under ids 1..{strangers}")
        print(f"    strangers' contacts altered: {altered} {check(altered == 0)} (must be 0)")
        print(f"    customers in this account under their own ids: {mine}/{total}"
              f" {check(mine == total)}")
        print(f"    stale ids forgotten (history): {forgotten(url)}, failed: {failed},"
              f" contacts in the account now: {len(after)}")
        print(f"    Brevo calls: {calls}, time: {seconds:.2f} s (Brevo's 10 calls/s enforced)")
        print("    " + ", ".join(f"{k}: {n}" for k, n in sorted(routes.items())))
        if isinstance(result, SweepResult):
            print(f"    sweep: {json.dumps(result.counts.get('mirror'))}")
        return altered == 0 and mine == total and failed == 0


def check(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--strangers", type=int, default=25)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    configure_logs("ERROR")  # one line per push would bury the figures
    ok = [run(args.database_url, args.customers, args.strangers, how)
          for how in (LISTENER, RESTORED, SWEEP)]
    raise SystemExit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
