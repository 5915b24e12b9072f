"""A 10,000-change burst committed in one transaction while the listener runs, against an
emulator enforcing Brevo's rate limits (10 contacts calls/s, 100 other calls/h).

Prints when the last contact reached Brevo (the emulator's own timestamps) and when the queue
was drained with every id written back, the Brevo calls it took, and the listener's peak RSS.

    python -m bench.bench_listener_burst [--customers 10000]

Targets (issue 3): all in Brevo within 60 s; listener peak RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from datetime import datetime

import httpx
import psutil
import psycopg

from bench.support import (
    DEFAULT_ADMIN_URL,
    emulator_process,
    listener_process,
    load_customers,
    scratch_database,
)

DEADLINE_SECONDS = 60.0
RSS_TARGET_MB = 150.0


class PeakRss:
    """Samples a process's resident memory every few milliseconds, in a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak / 2**20


def drained(url: str, customers: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM brevo_sync.queue),"
                           " (SELECT count(*) FROM customers WHERE brevo_contact_id IS NULL)"
                           ).fetchone()
    return row is not None and row[0] == 0 and row[1] == 0


def run(admin_url: str, customers: int) -> None:
    with scratch_database(admin_url) as url, emulator_process("--rate-limits") as base, \
            listener_process(url, base) as listener:
        rss = PeakRss(listener.pid)
        load_customers(url, customers)  # COPY, one transaction: one wake-up
        committed_wall, committed = time.time(), time.monotonic()
        while not drained(url, customers):
            if time.monotonic() - committed > DEADLINE_SECONDS * 3:
                raise RuntimeError("the burst was not drained in three times the target")
            time.sleep(0.2)
        drained_after = time.monotonic() - committed
        peak_mb = rss.stop()
        root = base.removesuffix("/v3")
        body = httpx.get(root + "/_emulator/contacts", timeout=60).json()
        calls = httpx.get(root + "/_emulator/calls", timeout=10).json()["calls"]
    stamps = [_seconds(c["modifiedAt"]) for c in body["contacts"]]
    in_brevo_after = max(stamps) - committed_wall
    statuses = Counter[int]()
    for call in calls:
        statuses[call["status"]] += call["count"]
    print(f"{customers} changes committed in one transaction, emulator enforcing Brevo's limits")
    print(f"  contacts in Brevo   {body['count']}")
    print(f"  last one in Brevo   {in_brevo_after:6.1f} s  "
          f"(target <= {DEADLINE_SECONDS:g} s: {_verdict(in_brevo_after <= DEADLINE_SECONDS)})")
    print(f"  queue drained, ids written back  {drained_after:6.1f} s")
    print(f"  Brevo calls         {sum(statuses.values())} (429: {statuses.get(429, 0)})")
    print(f"  listener peak RSS   {peak_mb:6.1f} MB  "
          f"(target <= {RSS_TARGET_MB:g} MB: {_verdict(peak_mb <= RSS_TARGET_MB)})")


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL,
                        help="a server where a scratch database may be created and dropped")
    parser.add_argument("--customers", type=int, default=10_000)
    args = parser.parse_args()
    run(args.database_url, args.customers)


if __name__ == "__main__":
    main()
