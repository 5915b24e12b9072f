"""pg_terminate_backend on the listener's connections every few seconds: it comes back."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import psycopg
import pytest

from tests.pg import dbname_of
from tests.reliability.conftest import StartEmulator, StartListener
from tests.reliability.harness import Listener
from tests.reliability.workload import Workload, assert_brevo_matches, wait_until_drained

CHANGES = 900
CHANGES_PER_SECOND = 90
RECONNECT_WITHIN = 5.0
MIN_CUTS = 3

Db = psycopg.Connection[dict[str, Any]]


def listen_backends(conn: psycopg.Connection[Any], dbname: str) -> set[int]:
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s"
                        " AND application_name = 'brevo-sync-listen'", (dbname,)).fetchall()
    return {row[0] for row in rows}


def cut(conn: psycopg.Connection[Any], dbname: str) -> set[int]:
    """Terminate every connection of the listener, its LISTEN one and its pool's."""
    rows = conn.execute("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND application_name LIKE 'brevo-sync-listen%%'",
                        (dbname,)).fetchall()
    return {row[0] for row in rows}


def time_to_reconnect(conn: psycopg.Connection[Any], dbname: str, killed: set[int],
                      listener: Listener) -> float:
    started = time.monotonic()
    while time.monotonic() - started < RECONNECT_WITHIN * 3:
        if listen_backends(conn, dbname) - killed and listener.healthz() == 200:
            return time.monotonic() - started
        time.sleep(0.02)
    return float("inf")


@pytest.mark.slow
def test_connections_terminated_every_few_seconds(
        database_url: str, db: Db, start_emulator: StartEmulator,
        start_listener: StartListener) -> None:
    """Reconnected within 5 s after each cut, and Brevo ends equal to the database."""
    dbname = dbname_of(database_url)
    emulator = start_emulator()
    listener = start_listener(database_url, emulator)
    listener.wait_healthy()
    writing = threading.Event()
    writing.set()
    reconnects: list[float] = []
    rng = random.Random(5)

    def cutter() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while writing.is_set():
                time.sleep(rng.uniform(1.5, 2.5))  # the pace of the cuts, not a wait
                killed = cut(conn, dbname)
                assert killed, "the listener had no connection to cut"
                reconnects.append(time_to_reconnect(conn, dbname, killed, listener))

    thread = threading.Thread(target=cutter, name="cutter", daemon=True)
    thread.start()
    workload = Workload("cut")
    try:
        workload.run(db, CHANGES, per_second=CHANGES_PER_SECOND)
        # On a loaded machine the workload may end before enough cuts: keep cutting a while.
        deadline = time.monotonic() + 30
        while len(reconnects) < MIN_CUTS and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        writing.clear()
        thread.join(30)

    wait_until_drained(db, timeout=60)
    assert len(reconnects) >= MIN_CUTS, f"only {len(reconnects)} cuts"
    assert max(reconnects) <= RECONNECT_WITHIN, f"reconnect times: {reconnects}"
    assert listener.proc.poll() is None, "the listener died"
    assert len(listener.events("listener_reconnected")) >= len(reconnects)
    assert_brevo_matches(db, emulator, workload.deleted)
