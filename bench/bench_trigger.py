"""Write throughput of the customers table with the sync's trigger installed.

8 clients run single-row updates of a synced column for --seconds each round, in three setups:
no trigger; the sync's trigger with a drainer running (`brevo-sync listen` against the
emulator enforcing Brevo's limits); and a naive trigger that NOTIFYs on every row. Rounds
alternate, each starting with another setup, so drift on a shared machine hits every setup
alike; medians are printed.

    python -m bench.bench_trigger [--seconds 20] [--rounds 3] [--clients 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg

from bench.support import (
    DEFAULT_ADMIN_URL,
    emulator_process,
    load_customers,
    median,
    scratch_database,
    stop_process,
)

ROWS = 10_000
SYNC_TRIGGERS = ("brevo_sync_enqueue_insert_delete", "brevo_sync_enqueue_update")
NAIVE = """
CREATE OR REPLACE FUNCTION bench_naive_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO brevo_sync.queue AS q (customer_id) VALUES (NEW.id)
    ON CONFLICT (customer_id) DO UPDATE SET version = q.version + 1;
    PERFORM pg_notify('brevo_sync', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_naive AFTER UPDATE OF first_name ON customers
    FOR EACH ROW EXECUTE FUNCTION bench_naive_notify();
"""


def run_load(url: str, ids: list[str], clients: int, seconds: float) -> float:
    """Updates per second over all clients."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        rng = random.Random(n)
        with psycopg.connect(url, autocommit=True) as conn:
            done = 0
            while time.monotonic() < stop:
                conn.execute("UPDATE customers SET first_name = %s WHERE id = %s",
                             (f"n{rng.random()}", rng.choice(ids)))
                done += 1
            counts[n] = done

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def set_triggers(url: str, setup: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER IF EXISTS bench_naive ON customers")
        enabled = "ENABLE" if setup == "sync" else "DISABLE"
        for name in SYNC_TRIGGERS:
            conn.execute(f"ALTER TABLE customers {enabled} TRIGGER {name}")
        if setup == "naive":
            conn.execute(NAIVE)
        conn.execute("DELETE FROM brevo_sync.queue")


@contextlib.contextmanager
def listener(url: str, base: str) -> Iterator[None]:
    env = {**os.environ, "DATABASE_URL": url, "BREVO_API_KEY": "xkeysib-bench",
           "BREVO_BASE_URL": base, "BREVO_LIST_ID": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "brevo_sync.cli", "--log-level", "WARNING",
                             "listen", "--metrics-port", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        stop_process(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()

    results: dict[str, list[float]] = {"none": [], "sync": [], "naive": []}
    with scratch_database(args.database_url) as url, emulator_process("--rate-limits") as base:
        load_customers(url, ROWS, queue=False)
        with psycopg.connect(url) as conn:
            ids = [str(r[0]) for r in conn.execute("SELECT id FROM customers")]
        with listener(url, base):
            setups = list(results)
            for round_no in range(args.rounds):
                # Each round starts with another setup, so warm-up and drift fall on all alike.
                shift = round_no % len(setups)
                for setup in setups[shift:] + setups[:shift]:
                    set_triggers(url, setup)
                    tps = run_load(url, ids, args.clients, args.seconds)
                    results[setup].append(tps)
                    print(f"round {round_no + 1} {setup:>5}: {tps:8.0f} updates/s", flush=True)
    base_tps = median(results["none"])
    print(f"median without trigger: {base_tps:.0f}/s")
    for setup, label in (("sync", "sync trigger + drainer"), ("naive", "naive NOTIFY per row")):
        tps = median(results[setup])
        print(f"median {label}: {tps:.0f}/s = {100 * tps / base_tps:.0f} % of no trigger")


if __name__ == "__main__":
    main()
