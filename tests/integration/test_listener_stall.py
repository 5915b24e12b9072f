"""The listener's /healthz says unhealthy when rows wait and nothing moves."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import psycopg
import pytest

from brevo_sync.config import Settings
from listener.health import Health
from listener.metrics import ListenerMetrics
from listener.run import serve
from tests.factories import add_customers
from tests.integration.test_listener import asgi, eventually

pytestmark = pytest.mark.anyio


async def test_healthz_turns_unhealthy_while_ready_rows_make_no_progress(
        settings: Settings, database_url: str, db: psycopg.Connection[Any], emulator: Any,
        store: Any) -> None:
    """Connected and ticking, but every ready row held where the claim cannot take it: after
    the stall time /healthz says so; once the rows are pushed it is healthy again."""
    fast = dataclasses.replace(settings, contacts_per_second=10_000,
                               contacts_per_hour=10_000_000)
    ids = add_customers(db, 5)
    health = Health(stall_seconds=1.0)
    stop = asyncio.Event()
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT customer_id FROM brevo_sync.queue FOR UPDATE")
        task = asyncio.create_task(serve(fast, stop=stop, transport=asgi(emulator),
                                         metrics=ListenerMetrics(), health=health,
                                         metrics_port=0))
        try:
            await eventually("the listener to connect", lambda: health.connected)
            await eventually("the stall to show", lambda: health.check()[1]["stalled"], 15)
            healthy, body = health.check()
            assert not healthy and body["status"] == "unhealthy" and body["ready"] == 5
            holder.rollback()
            await eventually("the rows to reach Brevo",
                             lambda: store.count() == len(ids), 15)
            await eventually("health to come back", lambda: health.check()[0], 15)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
