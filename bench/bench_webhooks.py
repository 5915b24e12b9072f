"""Brevo -> Neon through the webhook: from an unsubscribe in Brevo to the customer opted out.

The emulator (`brevo-sync fake-brevo`, its own process) holds one contact per customer and a
marketing webhook registered by `brevo-sync webhooks install` pointing at the API
(`brevo-sync serve`, uvicorn on loopback, its own process). One contact is unsubscribed
through the emulator's control route every 1/rate seconds; the emulator delivers the event
to POST /api/webhooks/brevo with the bearer, and the time until `marketing_opt_in = false`
is visible in the database is measured by a connection polling every 2 ms.

Then one delivery of 1,000 batched unsubscribes is posted to the route, and the time until
its answer (the events are applied before the route answers) and until all 1,000 customers
are opted out is measured.

    python -m bench.bench_webhooks [--events 200] [--rate 5] [--batch 1000]

Targets (issue 13): p99 <= 500 ms on loopback; 1,000 batched events applied in <= 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg

from bench.support import (
    DEFAULT_ADMIN_URL,
    emulator_process,
    free_port,
    load_customers,
    median,
    percentile,
    scratch_database,
    stop_process,
    wait_until_healthy,
)

# A fresh bearer every run: the bench shares nothing with a deployment.
SECRET = secrets.token_urlsafe(24)
P99_TARGET_MS = 500.0
BATCH_TARGET_S = 2.0
POLL_SECONDS = 0.002


def environ(database_url: str, base_v3: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "BREVO_"))}
    env.update({"DATABASE_URL": database_url, "BREVO_API_KEY": "xkeysib-bench",
                "BREVO_BASE_URL": base_v3, "BREVO_LIST_ID": "2",
                "BREVO_WEBHOOK_SECRET": SECRET, "ADMIN_PASSWORD": "bench-admin-password"})
    return env


@contextlib.contextmanager
def api_process(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "brevo_sync.cli", "--log-level", "WARNING", "serve",
         "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base + "/healthz", proc, "the API", timeout=30)
        yield base
    finally:
        stop_process(proc)


class OptOutWatch(threading.Thread):
    """Notes when each customer is first seen opted out."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute("SELECT email FROM customers WHERE NOT marketing_opt_in"
                                    " AND email LIKE 'w%'").fetchall()
                now = time.perf_counter()
                for (email,) in rows:
                    self.seen.setdefault(email, now)
                time.sleep(POLL_SECONDS)


def add_contacts(root: str, emails: list[str]) -> list[int]:
    body = {"contacts": [{"email": e} for e in emails]}
    answer = httpx.post(root + "/_emulator/contacts", json=body, timeout=30)
    answer.raise_for_status()
    return [int(i) for i in answer.json()["ids"]]


def latency_run(url: str, root: str, events: int, rate: float) -> list[float]:
    emails = [f"w{i}@example.com" for i in range(events)]
    ids = add_contacts(root, emails)
    watch = OptOutWatch(url)
    watch.start()
    sent: dict[str, float] = {}
    with httpx.Client(base_url=root, timeout=10) as control:
        start = time.perf_counter()
        for i, (email, contact_id) in enumerate(zip(emails, ids, strict=True)):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            sent[email] = time.perf_counter()
            control.post(f"/_emulator/contacts/{contact_id}/unsubscribe", json={})
    deadline = time.perf_counter() + 10
    while len(watch.seen) < events and time.perf_counter() < deadline:
        time.sleep(0.05)
    watch.stop.set()
    watch.join()
    missing = events - len(watch.seen)
    if missing:
        print(f"  {missing} customers were not opted out within 10 s")
    return [(watch.seen[e] - sent[e]) * 1000 for e in emails if e in watch.seen]


def batch_run(url: str, api: str, count: int) -> tuple[float, float, int]:
    now = int(time.time())
    body = [{"event": "unsubscribe", "email": f"b{i}@example.com", "camp_id": 1,
             "ts_event": now + 1, "ts": now + 3601, "date_event": "x"} for i in range(count)]
    started = time.perf_counter()
    answer = httpx.post(api + "/api/webhooks/brevo", json=body,
                        headers={"authorization": f"Bearer {SECRET}"}, timeout=30)
    answered = time.perf_counter() - started
    answer.raise_for_status()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM customers WHERE NOT marketing_opt_in"
                               " AND email LIKE 'b%'").fetchone()
            done = int(row[0]) if row else 0
            if done >= count or time.perf_counter() - started > 30:
                break
            time.sleep(POLL_SECONDS)
    return answered, time.perf_counter() - started, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="unsubscribes per second")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with scratch_database(DEFAULT_ADMIN_URL) as url, emulator_process() as base_v3:
        root = base_v3.removesuffix("/v3")
        load_customers(url, args.events, prefix="w", queue=False)
        load_customers(url, args.batch, prefix="b", queue=False)
        env = environ(url, base_v3)
        with api_process(env) as api:
            subprocess.run(
                [sys.executable, "-m", "brevo_sync.cli", "--log-level", "WARNING", "webhooks",
                 "install", "--url", api + "/api/webhooks/brevo"], env=env, check=True)
            latencies = latency_run(url, root, args.events, args.rate)
            answered, applied, done = batch_run(url, api, args.batch)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"unsubscribe in the emulator -> marketing_opt_in = false, {len(latencies)} events"
          f" at {args.rate:g}/s through the served route:")
    print(f"  p50 {p50:.1f} ms   median {median(latencies):.1f} ms   p99 {p99:.1f} ms"
          f"   max {max(latencies):.1f} ms   (target p99 <= {P99_TARGET_MS:.0f} ms)")
    print(f"{args.batch} batched unsubscribes in one delivery: answered in {answered:.3f} s,"
          f" {done} applied in {applied:.3f} s (target <= {BATCH_TARGET_S:.0f} s)")
    ok = p99 <= P99_TARGET_MS and applied <= BATCH_TARGET_S and done == args.batch
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
