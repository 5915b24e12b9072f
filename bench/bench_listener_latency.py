"""Latency from commit to the contact being visible in Brevo, through the running listener.

The emulator answers every call 50 ms late (Brevo's own latency is of that order); one customer
is inserted every 1/rate seconds. A contact's visibility time is the emulator's own `createdAt`
(milliseconds, written when the contact is stored, same clock as this machine), so the figure
needs no polling at all.

    python -m bench.bench_listener_latency [--rate 5] [--seconds 60] [--latency-ms 50]

Targets (issue 3): p50 <= 70 ms, p99 <= 150 ms.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import httpx
import psycopg

from bench.support import (
    DEFAULT_ADMIN_URL,
    emulator_process,
    listener_process,
    percentile,
    scratch_database,
)

TARGETS = {50: 70.0, 99: 150.0}
INSERT = "INSERT INTO customers (email, first_name, marketing_opt_in) VALUES (%s, 'L', true)"


def contacts(base_v3: str) -> dict[str, dict[str, object]]:
    root = base_v3.removesuffix("/v3")
    body = httpx.get(root + "/_emulator/contacts", timeout=30).json()
    return {c["email"]: c for c in body["contacts"]}


def created_seconds(contact: dict[str, object]) -> float:
    return datetime.fromisoformat(str(contact["createdAt"]).replace("Z", "+00:00")).timestamp()


def run(admin_url: str, rate: float, seconds: float, latency_ms: float) -> list[float]:
    with scratch_database(admin_url) as url, \
            emulator_process("--latency-ms", str(latency_ms)) as base, \
            listener_process(url, base), \
            psycopg.connect(url, autocommit=True) as conn:
        conn.execute(INSERT, ("warmup@example.com",))  # first calls open connections
        wait_for_count(base, 1, 10)
        committed: dict[str, float] = {}
        count = int(rate * seconds)
        started = time.monotonic()
        for n in range(count):
            pause = started + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the writer
            email = f"lat{n}@example.com"
            before = time.time()
            conn.execute(INSERT, (email,))
            committed[email] = before  # conservative: the commit itself is counted
        wait_for_count(base, count + 1, 30)
        seen = contacts(base)
    return [(created_seconds(seen[email]) - at) * 1000 for email, at in committed.items()]


def wait_for_count(base_v3: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(contacts(base_v3)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} contacts reached the emulator")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL,
                        help="a server where a scratch database may be created and dropped")
    parser.add_argument("--rate", type=float, default=5.0, help="changes a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the emulator's delay")
    args = parser.parse_args()
    latencies = run(args.database_url, args.rate, args.seconds, args.latency_ms)
    print(f"commit -> visible in Brevo, {len(latencies)} changes at {args.rate}/s, "
          f"emulator latency {args.latency_ms:g} ms")
    for pct in (50, 95, 99):
        value = percentile(latencies, pct)
        target = TARGETS.get(pct)
        verdict = "" if target is None else (
            f"  (target <= {target:g} ms: {'ok' if value <= target else 'MISSED'})")
        print(f"  p{pct:<3} {value:7.1f} ms{verdict}")
    print(f"  max  {max(latencies):7.1f} ms")


if __name__ == "__main__":
    main()
