"""The key revoked while the listener runs (issue 14): nothing is blamed on customers, and
everything goes through once Brevo takes a key again, with no row touched by hand.

Two rounds against one emulator process (Brevo's rate limits on, 50 ms per call):

1. rotated: a listener runs with key A; A is revoked; 40 customers are added meanwhile; the
   key is rotated (the account accepts only key B) and the listener restarted with B.
2. re-enabled: the listener (key B) runs; B is revoked; 40 more customers are added; B is
   enabled again and the same listener resumes by itself.

Each round prints the time from the rotation (or re-enabling) until all 40 are in Brevo
(target: within a minute), the rows left as errors (target: 0), and what the pause showed
while it lasted. The benchmark writes nothing but INSERTs into customers.

    python -m bench.bench_revoked_key [--customers 40] [--paused-seconds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from bench.support import (
    DEFAULT_ADMIN_URL,
    emulator_process,
    free_port,
    scratch_database,
    stop_process,
    wait_until_healthy,
)

KEY_A, KEY_B = "xkeysib-bench-key-a", "xkeysib-bench-key-b"
TARGET_SECONDS = 60.0
INSERT = "INSERT INTO customers (email, first_name, marketing_opt_in) VALUES (%s, 'R', true)"


@dataclass
class Listener:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def gauge(self) -> float:
        for line in self.get("/metrics").text.splitlines():
            if line.startswith("brevo_sync_brevo_account_paused "):
                return float(line.split()[1])
        return float("nan")

    def log_events(self, event: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f'"{event}"' in line]


@contextlib.contextmanager
def listener(database_url: str, base_v3: str, key: str, log: Path) -> Iterator[Listener]:
    """`brevo-sync listen` with `key`, its /healthz, /readyz and /metrics on a known port."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "BREVO_"))}
    environ.update({"DATABASE_URL": database_url, "BREVO_API_KEY": key,
                    "BREVO_BASE_URL": base_v3, "BREVO_LIST_ID": "2"})
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "brevo_sync.cli", "listen", "--metrics-port", str(port)],
            env=environ, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}/healthz", proc, "the listener",
                               timeout=30)
            yield Listener(proc, port, log)
        finally:
            stop_process(proc)


class Account:
    """The emulator's account, steered through its control API."""

    def __init__(self, base_v3: str) -> None:
        self.root = base_v3.removesuffix("/v3")

    def configure(self, **settings: Any) -> None:
        httpx.patch(self.root + "/_emulator/config", json=settings, timeout=10).raise_for_status()

    def emails(self) -> set[str]:
        body = httpx.get(self.root + "/_emulator/contacts", timeout=30).json()
        return {c["email"] for c in body["contacts"]}

    def refused_calls(self) -> int:
        calls = httpx.get(self.root + "/_emulator/calls", timeout=10).json()["calls"]
        return sum(c["count"] for c in calls if c["status"] == 401)


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds until `check()` holds, polled every 50 ms."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic() - started


def sync_figures(db: psycopg.Connection[dict[str, Any]], emails: list[str]) -> dict[str, Any]:
    row = db.execute(
        "SELECT (SELECT count(*) FROM brevo_sync.queue q JOIN customers c ON c.id = q.customer_id"
        "        WHERE c.email = ANY(%(e)s)) AS pending,"
        " (SELECT count(*) FROM brevo_sync.sync_state WHERE status = 'error') AS errors,"
        " (SELECT count(*) FROM brevo_sync.history WHERE outcome = 'error') AS history_errors,"
        " (SELECT count(*) FROM brevo_sync.history WHERE email = ANY(%(e)s)"
        "        AND outcome <> 'ok') AS history_not_ok,"
        " (SELECT coalesce(max(q.attempts), 0) FROM brevo_sync.queue q) AS max_attempts,"
        " (SELECT count(*) FROM brevo_sync.account_pause) AS pauses,"
        " (SELECT refusals FROM brevo_sync.account_pause) AS refusals,"
        " (SELECT reason FROM brevo_sync.account_pause) AS reason",
        {"e": emails}).fetchone()
    assert row is not None
    return dict(row)


def add_customers(db: psycopg.Connection[Any], prefix: str, count: int) -> list[str]:
    emails = [f"{prefix}{n}@example.com" for n in range(count)]
    for email in emails:
        db.execute(INSERT, (email,))
        time.sleep(0.05)  # added over a couple of seconds, as a shop's sign-ups would be
    return emails


def paused_round(db: psycopg.Connection[dict[str, Any]], account: Account, running: Listener,
                 prefix: str, count: int, paused_seconds: float
                 ) -> tuple[list[str], dict[str, Any]]:
    """With the running listener's key refused: add customers, and see what the pause shows."""
    refused_before = account.refused_calls()
    emails = add_customers(db, prefix, count)
    wait_for("the pause recorded", lambda: sync_figures(db, emails)["pauses"] == 1, 30)
    time.sleep(paused_seconds)  # the outage lasting a while: probes go on meanwhile
    shown = sync_figures(db, emails)
    ready = running.get("/readyz")
    shown.update(readyz=ready.status_code, readyz_body=ready.json(), gauge=running.gauge(),
                 refused_calls=account.refused_calls() - refused_before,
                 error_lines=len(running.log_events("brevo_account_refused")))
    return emails, shown


def print_pause(shown: dict[str, Any], count: int) -> None:
    print(f"  while paused: {shown['pending']}/{count} pending (attempts counted: "
          f"{shown['max_attempts']}), {shown['errors']} rows as errors, "
          f"{shown['history_not_ok']} history entries against them")
    print(f"  pause recorded once: {shown['pauses']} row, {shown['refusals']} refusals "
          f"(first call + probes), reason: {shown['reason']}")
    print(f"  listener /readyz {shown['readyz']} {shown['readyz_body'].get('status')!r}, "
          f"gauge brevo_sync_brevo_account_paused = {shown['gauge']:g}, "
          f"error log lines: {shown['error_lines']}, refused Brevo calls: "
          f"{shown['refused_calls']}")


def print_result(what: str, seconds: float, db: psycopg.Connection[dict[str, Any]],
                 emails: list[str], account: Account) -> bool:
    after = sync_figures(db, emails)
    reached = len(set(emails) & account.emails())
    ok = seconds <= TARGET_SECONDS and after["errors"] == 0 and reached == len(emails)
    print(f"  {what} -> all {reached}/{len(emails)} in Brevo: {seconds:.1f} s "
          f"(target <= {TARGET_SECONDS:g} s: {'ok' if seconds <= TARGET_SECONDS else 'MISSED'})")
    print(f"  rows left as errors: {after['errors']} (target 0), error outcomes in history: "
          f"{after['history_errors']}, still pending: {after['pending']}, pause record left: "
          f"{after['pauses']}")
    return ok


def run(admin_url: str, count: int, paused_seconds: float) -> bool:
    with scratch_database(admin_url) as url, TemporaryDirectory() as tmp, \
            emulator_process("--api-key", KEY_A, "--rate-limits", "--latency-ms", "50") as base, \
            psycopg.connect(url, autocommit=True, row_factory=dict_row) as db:
        account = Account(base)
        inserts = 0
        ok = True

        print(f"1. key rotated: listener on key A, A revoked, {count} customers added, "
              "then the account takes only key B and the listener restarts with B")
        with listener(url, base, KEY_A, Path(tmp, "a.log")) as first:
            db.execute(INSERT, ("warmup@example.com",))
            inserts += 1
            wait_for("the warm-up contact", lambda: "warmup@example.com" in account.emails(), 30)
            account.configure(revoked_keys=[KEY_A])
            emails, shown = paused_round(db, account, first, "rot", count, paused_seconds)
            inserts += count
            print_pause(shown, count)
            rotated = time.monotonic()
            account.configure(api_key=KEY_B)
        with listener(url, base, KEY_B, Path(tmp, "b.log")) as second:
            wait_for("all in Brevo", lambda: set(emails) <= account.emails(), 120)
            seconds = time.monotonic() - rotated
            ok &= print_result("rotation + restart", seconds, db, emails, account)

            print(f"2. key re-enabled: the same listener on key B, B revoked, {count} more "
                  "customers added, then B enabled again; no restart")
            account.configure(revoked_keys=[KEY_B])
            emails, shown = paused_round(db, account, second, "ren", count, paused_seconds)
            inserts += count
            print_pause(shown, count)
            enabled = time.monotonic()
            account.configure(revoked_keys=[])
            wait_for("all in Brevo", lambda: set(emails) <= account.emails(), 120)
            seconds = time.monotonic() - enabled
            ok &= print_result("re-enabling, resumed by itself", seconds, db, emails, account)
            resumed = second.log_events("brevo_account_resumed")
            print(f"  listener said: {len(resumed)} brevo_account_resumed line(s); "
                  f"/readyz now {second.get('/readyz').status_code}, gauge {second.gauge():g}")
        print(f"by hand: {inserts} INSERTs into customers; no UPDATE or DELETE of any row, "
              "no queue or sync table written by the benchmark")
        return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL,
                        help="a server where a scratch database may be created and dropped")
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--paused-seconds", type=float, default=8.0,
                        help="how long the outage lasts after the pause is recorded")
    args = parser.parse_args()
    ok = run(args.database_url, args.customers, args.paused_seconds)
    print("all targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
