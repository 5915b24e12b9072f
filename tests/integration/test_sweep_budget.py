"""A sweep's time budget holds around every database statement, not only between pushes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool, statement_deadline
from brevo_sync.reconcile import run_sweep

pytestmark = pytest.mark.anyio

BUDGET = 3.0
# Only a guard against the hang this test is about; the sweep ends near BUDGET.
HANG_GUARD = 120.0


async def test_a_statement_that_would_outlive_the_budget_is_cancelled(
        database_url: str, db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient,
        settings: Settings) -> None:
    """A statement stuck behind a lock held elsewhere ends the sweep when its budget runs out,
    instead of holding the sweep's lock (and every other sweep) while it waits; the run says
    why."""
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE brevo_sync.contacts IN ACCESS EXCLUSIVE MODE")
        async with asyncio.timeout(HANG_GUARD):
            result = await run_sweep(settings, pool, brevo, source="test", budget=BUDGET)
        holder.rollback()
    assert result.status == "failed"
    assert "outlived the sweep's 3 s budget" in result.message, result.message
    run = db.execute("SELECT status, message FROM brevo_sync.runs WHERE id = %s",
                     (result.run_id,)).fetchone()
    assert run is not None and run["status"] == "failed"
    again = await run_sweep(settings, pool, brevo, source="test", budget=60.0)
    assert again.status == "done", again.message


async def test_statements_outside_a_deadline_have_no_timeout(pool: Pool) -> None:
    async with pool.connection() as conn:
        row = await (await conn.execute("SHOW statement_timeout")).fetchone()
    assert row is not None and row["statement_timeout"] == "0"


async def test_the_timeout_is_the_budget_left_and_ends_with_the_statement(pool: Pool) -> None:
    """Set LOCAL, inside the statement's own transaction: the connection keeps no timeout for
    whoever uses it next (through a transaction pooler, that may be anyone)."""
    with statement_deadline(time.monotonic() + 30):
        async with pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT current_setting('statement_timeout') AS t")).fetchone()
            assert row is not None and row["t"].endswith("s")
            seconds = float(row["t"].removesuffix("ms")) / 1000 if row["t"].endswith("ms") \
                else float(row["t"].removesuffix("s"))
            assert 25 < seconds <= 30
    async with pool.connection() as conn:
        row = await (await conn.execute("SHOW statement_timeout")).fetchone()
    assert row is not None and row["statement_timeout"] == "0"
