"""Log lines say who caused them: the listener and the sweep bind their source, run id and
worker once where their work starts, so every `brevo_push` line carries them; a webhook's
delivery and the refresh after it say source="webhook"."""

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

from api.app import create_app
from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Secret, Settings
from brevo_sync.db import Pool
from brevo_sync.reconcile import run_sweep
from brevo_sync.webhooks import refresh_contacts
from listener.health import Health
from listener.metrics import ListenerMetrics
from listener.run import serve
from tests.factories import add_customer
from tests.support.admin_app import admin_settings

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


async def test_a_webhook_delivery_says_so_on_every_line(
        settings: Settings, db: psycopg.Connection[Any], emulator: Any) -> None:
    secret = "webhook-secret-0123456789abcdef"
    hooked = dataclasses.replace(admin_settings(settings), webhook_secret=Secret(secret))
    add_customer(db, email="leaving@example.com", marketing_opt_in=True)
    app = create_app(hooked, brevo_transport=httpx.ASGITransport(app=emulator))
    event = {"event": "unsubscribe", "email": "leaving@example.com", "ts_event": int(time.time())}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://api.test") as http:
        with capture_logs(processors=[merge_contextvars]) as logs:
            refused = await http.post("/api/webhooks/brevo", json=event)
            answer = await http.post("/api/webhooks/brevo", json=event,
                                     headers={"authorization": f"Bearer {secret}"})
    assert (refused.status_code, answer.status_code) == (401, 200), answer.text
    assert answer.json()["applied"] == 1, answer.json()
    events = [e["event"] for e in logs]
    assert "webhook_refused" in events and "brevo_webhook_applied" in events, events
    assert all(e.get("source") == "webhook" for e in logs), logs
    with capture_logs(processors=[merge_contextvars]) as after:
        structlog.get_logger("test").info("after")
    assert "source" not in after[0]


async def test_the_refresh_after_a_delivery_says_so(
        pool: Pool, brevo: BrevoClient, emulator: Any) -> None:
    emulator.app.state.config.api_key = "another-key"  # Brevo refuses: the refresh logs it
    with capture_logs(processors=[merge_contextvars]) as logs:
        assert await refresh_contacts(pool, brevo, ["changed@example.com"]) == 0
    failed = [e for e in logs if e["event"] == "brevo_webhook_refresh_failed"]
    assert failed and all(e.get("source") == "webhook" for e in failed), logs
