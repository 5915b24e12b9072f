"""The listener's heartbeat: its row in brevo_sync.listeners, moved forward every few seconds.

The overview page (brevo_sync/overview.py) reads "running, last seen 2 s ago" from it, and
"not running since …" from a graceful stop (`record_stop`) or from heartbeats that stopped.

It beats on the loop's own LISTEN connection, beside the watchdog, while the loop is
connected: one short upsert of this worker's own row, which no application write and no
other worker ever locks, so it can hold up neither the application nor the drain (which
runs on the pool). A failed beat is only logged: a dead connection is the watchdog's to find.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable

import psycopg
import structlog

from brevo_sync.db import Conn, q
from brevo_sync.overview import HEARTBEAT_SECONDS

# A listener not heard of for this long is forgotten (its row deleted) by the next to start.
FORGET_AFTER_DAYS = 7
# The beat is abandoned past this (the connection is then the watchdog's to judge).
BEAT_TIMEOUT_SECONDS = 5.0
# A beat that keeps failing (a database not migrated yet, say) is said at most this often.
WARN_EVERY_SECONDS = 60.0

log = structlog.get_logger("listener.heartbeat")


class Heartbeat:
    def __init__(self, worker: str, *, every: float = HEARTBEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.worker = worker
        self.every = every
        self.clock = clock
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.beats = 0
        self._warned_at: float | None = None

    async def run(self, conn: Conn) -> None:
        """Beat now, then every `every` seconds, until cancelled (the loop's connection ended)."""
        while True:
            await self.beat(conn)
            await asyncio.sleep(self.every)

    async def beat(self, conn: Conn) -> bool:
        """One heartbeat; False (logged) when the database did not take it."""
        try:
            async with asyncio.timeout(BEAT_TIMEOUT_SECONDS):
                if self.beats == 0:
                    await conn.execute(q("heartbeat_forget"), {"days": FORGET_AFTER_DAYS})
                await conn.execute(q("heartbeat_beat"), {
                    "worker": self.worker, "host": self.host, "pid": self.pid})
        except (psycopg.Error, TimeoutError) as exc:
            self._warn(exc)
            return False
        self.beats += 1
        return True

    def _warn(self, exc: Exception) -> None:
        now = self.clock()
        if self._warned_at is not None and now - self._warned_at < WARN_EVERY_SECONDS:
            return
        self._warned_at = now
        log.warning("listener_heartbeat_failed", worker=self.worker,
                    error=f"{type(exc).__name__}: {str(exc).strip()[:200]}")


async def record_stop(conn: Conn, worker: str) -> None:
    """The listener stopped gracefully: the overview says "not running since" now. A database
    that does not take it is only logged: the heartbeat then simply goes stale."""
    try:
        async with asyncio.timeout(BEAT_TIMEOUT_SECONDS):
            await conn.execute(q("heartbeat_stopped"), {"worker": worker})
    except (psycopg.Error, TimeoutError) as exc:
        log.warning("listener_stop_not_recorded", worker=worker, error=type(exc).__name__)
