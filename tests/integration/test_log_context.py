"""Log lines say who caused them: the listener and the sweep bind their source, run id and
worker once where their work starts, so every `brevo_push` line carries them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.reconcile import run_sweep
from listener.health import Health
from listener.metrics import ListenerMetrics
from listener.run import serve
from tests.factories import add_customer

pytestmark = pytest.mark.anyio


def pushes(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "brevo_push"]


async def test_a_push_from_the_listener_says_so(
        settings: Settings, db: psycopg.Connection[Any], emulator: Any) -> None:
    fast = dataclasses.replace(settings, contacts_per_second=10_000,
                               contacts_per_hour=10_000_000)
    stop = asyncio.Event()
    with capture_logs(processors=[merge_contextvars]) as logs:
        task = asyncio.create_task(serve(
            fast, stop=stop, transport=httpx.ASGITransport(app=emulator), metrics_port=0,
            metrics=ListenerMetrics(), health=Health()))
        try:
            add_customer(db, email="heard@example.com")
            deadline = time.monotonic() + 10
            while not pushes(logs):
                assert time.monotonic() < deadline, "no push from the listener"
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    line = pushes(logs)[0]
    assert line["source"] == "listener"
    assert isinstance(line["worker"], str) and line["worker"]
    assert all(e.get("source") == "listener" for e in logs), logs


async def test_a_push_from_a_sweep_says_so_with_its_run(
        settings: Settings, db: psycopg.Connection[Any], pool: Pool,
        brevo: BrevoClient) -> None:
    add_customer(db, email="swept@example.com")
    db.execute("DELETE FROM brevo_sync.queue")  # only the sweep can find it
    with capture_logs(processors=[merge_contextvars]) as logs:
        result = await run_sweep(settings, pool, brevo, source="cron")
    assert result.synced == 1, result.message
    line = pushes(logs)[0]
    assert (line["source"], line["started_by"], line["run_id"]) == \
        ("sweep", "cron", result.run_id)
    assert isinstance(line["worker"], str) and line["worker"]
    # Nothing bound outlives the sweep.
    with capture_logs(processors=[merge_contextvars]) as after:
        structlog.get_logger("test").info("after")
    assert "source" not in after[0] and "run_id" not in after[0]
