"""Brevo refusing the account under a real listener process: it pauses, blames no customer,
says so on /readyz, /metrics and in one error line, and resumes by itself."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import TEST_API_KEY
from tests.factories import add_customers, pending
from tests.reliability.conftest import StartEmulator, StartListener
from tests.reliability.harness import wait_for

Db = psycopg.Connection[dict[str, Any]]
PAUSED = 'brevo_sync_brevo_account_paused'


@pytest.mark.slow
@pytest.mark.parametrize("refusal", [
    pytest.param({"revoked_keys": [TEST_API_KEY]}, id="revoked key"),
    pytest.param({"authorized_ips": ["203.0.113.7"]}, id="unauthorised IP"),
])
def test_a_refused_account_pauses_the_listener_until_brevo_answers(
        database_url: str, db: Db, start_emulator: StartEmulator,
        start_listener: StartListener, refusal: dict[str, Any]) -> None:
    emulator = start_emulator()
    listener = start_listener(database_url, emulator)
    listener.wait_healthy()
    emulator.configure(**refusal)
    add_customers(db, 20)
    wait_for("the pause", lambda: listener.metrics().get(PAUSED) == 401, 20)
    ready = httpx.get(listener.root + "/readyz", timeout=2)
    assert ready.status_code == 503 and ready.json()["status"] == "paused"
    assert listener.healthz() == 200  # alive: a restart would not help
    wait_for("a probe refused", lambda: listener.events("brevo_account_probe_refused"), 20)
    assert pending(db) == 20
    blamed = db.execute(
        "SELECT (SELECT count(*) FROM brevo_sync.history) + (SELECT count(*)"
        " FROM brevo_sync.sync_state WHERE status = 'error') AS n").fetchone()
    assert blamed == {"n": 0}

    emulator.configure(revoked_keys=[], authorized_ips=None)
    wait_for("the backlog pushed", lambda: pending(db) == 0, 45)
    assert len(emulator.contacts()) == 20
    assert listener.metrics().get(PAUSED) == 0
    assert httpx.get(listener.root + "/readyz", timeout=2).status_code == 200
    refused = listener.events("brevo_account_refused")
    assert len(refused) == 1 and refused[0]["level"] == "error"
    assert listener.events("brevo_account_resumed")
    assert TEST_API_KEY not in listener.log_text()
