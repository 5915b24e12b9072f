"""SIGTERM while pushing: in-flight pushes finish, nothing stays leased, nothing is lost."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import psycopg
import pytest

from tests.reliability.conftest import StartEmulator, StartListener
from tests.reliability.harness import wait_for
from tests.reliability.workload import Deleted, assert_brevo_matches, wait_until_drained

CUSTOMERS = 150
STOP_DEADLINE = 10.0

Db = psycopg.Connection[dict[str, Any]]


@pytest.mark.slow
def test_sigterm_while_pushing_exits_0_in_time_and_loses_nothing(
        database_url: str, db: Db, start_emulator: StartEmulator,
        start_listener: StartListener) -> None:
    emulator = start_emulator("--latency-ms", "200")
    # One call a customer (no bulk import), so pushes are in flight when the signal lands.
    env = {"BREVO_BULK_THRESHOLD": "100000"}
    listener = start_listener(database_url, emulator, env=env)
    listener.wait_healthy()
    db.execute("INSERT INTO customers (email, first_name, marketing_opt_in)"
               " SELECT 'stop' || n || '@example.com', 'N' || n, true"
               " FROM generate_series(1, %s) AS n", (CUSTOMERS,))
    wait_for("pushes to be under way", lambda: len(emulator.contacts()) >= 10, 20)

    listener.terminate()
    signalled = time.monotonic()
    try:
        code = listener.proc.wait(STOP_DEADLINE + 3)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_DEADLINE + 3} s after SIGTERM")
    assert code == 0
    assert time.monotonic() - signalled < STOP_DEADLINE + 1
    held = db.execute("SELECT count(*) AS n FROM brevo_sync.queue WHERE claimed_by LIKE %s"
                      " AND claimed_until > now()", (f"%:{listener.pid}:%",)).fetchone()
    assert held is not None and held["n"] == 0, "leases left behind"
    assert listener.events("listener_stopped")
    pushed = len(emulator.contacts())
    assert pushed < CUSTOMERS, "everything was pushed before the signal: nothing was shown"

    start_listener(database_url, emulator, env=env)
    wait_until_drained(db, timeout=60)
    assert_brevo_matches(db, emulator, Deleted())
