"""Two listeners at once share the work: each change is pushed once, no contact twice."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.reliability.conftest import StartEmulator, StartListener
from tests.reliability.workload import Workload, assert_brevo_matches, wait_until_drained

CHANGES = 1_000

Db = psycopg.Connection[dict[str, Any]]


@pytest.mark.slow
def test_two_listeners_push_every_change_once(
        database_url: str, db: Db, start_emulator: StartEmulator,
        start_listener: StartListener) -> None:
    emulator = start_emulator()
    listeners = [start_listener(database_url, emulator) for _ in range(2)]
    for listener in listeners:
        listener.wait_healthy()
    workload = Workload("pair")
    workload.run(db, CHANGES, per_second=120)
    wait_until_drained(db, timeout=60)
    assert_brevo_matches(db, emulator, workload.deleted)

    for listener in listeners:
        assert listener.events("brevo_push"), "one listener never pushed: no sharing shown"
    pushes = db.execute("SELECT count(*) AS n FROM brevo_sync.history").fetchone()
    assert pushes is not None and pushes["n"] <= CHANGES, "a change was pushed twice"
    twice = db.execute("SELECT customer_id FROM brevo_sync.history WHERE action = 'create'"
                       " AND outcome = 'ok' GROUP BY customer_id HAVING count(*) > 1").fetchall()
    assert twice == [], f"customers created twice: {twice}"
    upserts_of_existing = sum(c["count"] for c in emulator.calls()
                              if c["method"] == "POST" and c["path"] == "/v3/contacts"
                              and c["status"] == 204)
    assert upserts_of_existing == 0, "a create reached a contact that already existed"
