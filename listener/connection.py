"""The listener's own autocommit connection: LISTEN, wait for a hint, arm the wake-up flag.

It never goes through a pool: a pooled (PgBouncer) connection in transaction mode drops the
LISTEN between statements and silently receives nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import aclosing
from typing import Any

import structlog

from brevo_sync import queue
from brevo_sync.config import looks_like_neon_pooler
from brevo_sync.db import Conn, connect

CHANNEL = "brevo_sync"
APPLICATION_NAME = "brevo-sync-listen"
# A query that takes longer than this on an idle connection means the connection is dead
# (half-open TCP, a frozen server): reconnecting is cheaper than waiting for the kernel.
QUERY_TIMEOUT_SECONDS = 5.0

log = structlog.get_logger("listener.connection")


def warn_if_pooled(dsn: str) -> bool:
    """Log a warning when the DSN looks like Neon's pooler, through which LISTEN hears nothing."""
    if not looks_like_neon_pooler(dsn):
        return False
    log.warning(
        "listener_pooled_dsn",
        hint="the host has '-pooler': set DATABASE_URL_UNPOOLED to the direct host; "
        "until then wake-ups are lost and changes wait for the poll fallback",
    )
    return True


class ListenConnection:
    """One LISTENing connection. Every method raises psycopg errors (or TimeoutError) as they
    come; the caller drops the connection and opens a new one."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, dsn: str, application_name: str = APPLICATION_NAME) -> ListenConnection:
        conn = await connect(dsn, application_name)
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def wait(self, timeout: float, stop: asyncio.Event) -> bool:  # noqa: ASYNC109
        """True when a notification arrived within `timeout` seconds (or was already waiting);
        False at the timeout, or at once when `stop` is set."""
        hint = asyncio.ensure_future(self._hint(timeout))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({hint, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not hint.done():
                # Only reading notifications, no query in flight: safe to cut short.
                hint.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            return await hint
        return False

    async def _hint(self, timeout: float) -> bool:  # noqa: ASYNC109 - psycopg's own timeout
        async with aclosing(self.conn.notifies(timeout=timeout, stop_after=1)) as hints:
            async for _ in hints:
                return True
        return False

    async def arm(self) -> bool:
        """Ask the trigger to NOTIFY on the next change (the queue looked empty). True when
        the flag was down: a change may have come in since it was last raised."""
        async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
            return await queue.arm(self.conn)

    async def ping(self) -> None:
        await self._execute("SELECT 1")

    async def release_leases(self, worker: str) -> int:
        return await end_leases(self.conn, worker)

    async def _execute(self, query: str, params: dict[str, Any] | None = None) -> Any:
        async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
            return await self.conn.execute(query, params)

    async def close(self) -> None:
        await self.conn.close()


async def end_leases(conn: Conn, worker: str) -> int:
    """End the leases `worker` still holds (brevo_sync.queue.end_leases), within a bound."""
    async with asyncio.timeout(QUERY_TIMEOUT_SECONDS * 2):
        return await queue.end_leases(conn, worker)
