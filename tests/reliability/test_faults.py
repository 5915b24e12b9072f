"""Brevo misbehaving (5xx, 429 storms, time-outs) slows the sync down but changes nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import pytest

from tests.reliability.conftest import StartEmulator, StartListener
from tests.reliability.workload import Workload, assert_brevo_matches, wait_until_drained

CHANGES = 400
FAULTS = ("--error-rate", "0.2", "--storm-rate", "0.02", "--storm-seconds", "1",
          "--timeout-rate", "0.05", "--timeout-seconds", "2")

Db = psycopg.Connection[dict[str, Any]]


@pytest.mark.slow
def test_faulty_brevo_reaches_the_same_state_with_bounded_attempts(
        database_url: str, db: Db, start_emulator: StartEmulator,
        start_listener: StartListener) -> None:
    """20 % of calls get a 5xx, 429 storms start often, 5 % hang 2 s (the client gives up
    after 1 s): every change still lands, each after a handful of tries at most."""
    emulator = start_emulator(*FAULTS)
    listener = start_listener(database_url, emulator, env={"BREVO_TIMEOUT_SECONDS": "1"})
    listener.wait_healthy(timeout=60)
    workload = Workload("faults")
    workload.run(db, CHANGES, per_second=40)
    wait_until_drained(db, timeout=150)
    assert_brevo_matches(db, emulator, workload.deleted)

    statuses: Counter[int] = Counter()
    for call in emulator.calls():
        statuses[call["status"]] += call["count"]
    assert statuses[429] and (statuses[502] + statuses[503]) and statuses[504], statuses
    retries = db.execute("SELECT customer_id, count(*) AS n FROM brevo_sync.history"
                         " WHERE outcome = 'retry' GROUP BY customer_id"
                         " ORDER BY n DESC LIMIT 1").fetchone()
    assert retries is None or retries["n"] <= 3, f"a customer was retried {retries['n']} times"
    pushes = db.execute("SELECT count(*) AS n FROM brevo_sync.history").fetchone()
    assert pushes is not None and pushes["n"] <= CHANGES * 1.1, "changes pushed more than once"
    assert listener.events("brevo_retry"), "the client never retried: were faults injected?"
