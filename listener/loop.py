"""The listener's loop: connect and LISTEN, catch up, then wait for a hint or the poll interval.

    connect ─▶ release own stale leases ─▶ ┌▶ drain ─▶ arm ─▶ drain (if armed just now) ─┐
        ▲                                   └──── wait: NOTIFY, or POLL_SECONDS ◀─────────┘
        └── any failure: drop the connection, back off (exponential, jittered), reconnect

The queue is the truth and the notification only a hint: every wake-up, whether a NOTIFY or
the poll timer, drains whatever is ready, so a lost notification costs at most POLL_SECONDS.

A drain that Brevo refuses for the account (401/402/403) is not a lost connection: the loop
pauses where it is, probing Brevo (brevo_sync/pause.py), and drains again once answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import psycopg
import structlog

from brevo_sync.brevo.errors import BrevoAccountError
from brevo_sync.engine import DrainReport, Engine
from brevo_sync.pause import AccountPause
from listener.backoff import Backoff
from listener.connection import ListenConnection
from listener.health import Health
from listener.heartbeat import Heartbeat
from listener.metrics import ListenerMetrics
from listener.outage import Outage

# A lost notification (or a retry coming due) waits at most this long.
POLL_SECONDS = 1.0
# How often the LISTEN connection is proved alive with a SELECT 1, whatever the loop is doing.
PING_SECONDS = 2.0
# A connection that lived this long before it dropped resets the reconnect backoff.
STEADY_SECONDS = 1.0

log = structlog.get_logger("listener")


class Listener:
    def __init__(
        self,
        dsn: str,
        engine: Engine,
        *,
        stop: asyncio.Event,
        metrics: ListenerMetrics,
        health: Health,
        poll_seconds: float = POLL_SECONDS,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        pause: AccountPause | None = None,
        setting: str = "DATABASE_URL",
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.dsn = dsn
        self.engine = engine
        self.stop = stop
        self.metrics = metrics
        self.health = health
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.pause = pause
        self.heartbeat = heartbeat or Heartbeat(engine.worker)
        self.connects = 0
        self._lost_at: float | None = None
        self._connected_at = 0.0
        self._interrupt = stop
        # `setting` names the URL `dsn` came from, for the minute-by-minute error line. Only a
        # full cycle ends the outage: a database that accepts connections but fails every
        # drain (read-only, say) is still one.
        self.outage = Outage("listener_waiting_for_database",
                             f"the database ({setting}) to answer", clock=clock)

    async def run(self) -> None:
        """Serve until `stop` is set. Failures never end the loop: they are logged, then the
        connection is made again after a backoff."""
        while not self.stop.is_set():
            conn = await self._connect()
            if conn is None:
                return
            try:
                await self._serve(conn)
            # Database errors, timeouts, and bugs alike: one bad drain must not end the
            # service. Nothing of this worker is in flight once drain() has returned or raised.
            except Exception as exc:
                if self.clock() - self._connected_at >= STEADY_SECONDS:
                    # A connection that served a while and then dropped (a restart, a cut) is
                    # no sign of a database refusing work: reconnect promptly.
                    self.backoff.succeeded()
                self._lost(exc)
                await self._pause()
            finally:
                self._set_connected(False)
                await _close_quietly(conn)

    async def _connect(self) -> ListenConnection | None:
        while not self.stop.is_set():
            try:
                conn = await ListenConnection.open(self.dsn)
            except Exception as exc:
                self._lost(exc, connecting=True)
                await self._pause()
                continue
            try:
                # Leases left by a drain that failed midway would wait out their expiry.
                released = await conn.release_leases(self.engine.worker)
                if self.connects:
                    # The pool would find its dead connections one by one, pausing a growing
                    # delay after each (seconds in all); replace them all now instead.
                    await self.engine.pool.check()
            except Exception as exc:
                await _close_quietly(conn)
                self._lost(exc, connecting=True)
                await self._pause()
                continue
            self._connected(released)
            return conn
        return None

    async def _serve(self, conn: ListenConnection) -> None:
        # Set on a stop, or when the watchdog finds this connection dead: either way the drain
        # under way hands back what it has not pushed yet and the loop moves on.
        self._interrupt = asyncio.Event()
        watchdog = asyncio.create_task(self._watch(conn, self._interrupt),
                                       name="listener-watchdog")
        relay = asyncio.create_task(_relay(self.stop, self._interrupt), name="listener-relay")
        heartbeat = asyncio.create_task(self.heartbeat.run(conn.conn), name="listener-heartbeat")
        try:
            await self._cycle(conn)
        finally:
            for task in (watchdog, relay, heartbeat):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _watch(self, conn: ListenConnection, lost: asyncio.Event) -> None:
        """SELECT 1 every PING_SECONDS, so /healthz turns 503 soon after the database goes
        away even while a long drain keeps the loop from touching this connection."""
        while True:
            await asyncio.sleep(PING_SECONDS)
            try:
                await conn.ping()
            except Exception as exc:
                # The drain under way is cut short: with a backlog arriving as fast as it is
                # pushed, it would otherwise keep the loop from reconnecting (and /healthz at
                # 503) for as long as the backlog lasts.
                self._set_connected(False)
                log.warning("listener_connection_lost", error=_describe(exc))
                await _close_quietly(conn)
                lost.set()
                return

    async def _cycle(self, conn: ListenConnection) -> None:
        while not self.stop.is_set():
            await self._catch_up(conn)
            # A full cycle worked: only now may the next failure start from a short delay,
            # so a database that accepts connections but fails every drain (read-only, say)
            # still sees the delays grow.
            self.backoff.succeeded()
            self.outage.ended()
            self.health.tick()
            if self.stop.is_set():
                return
            await conn.wait(self.poll_seconds, self.stop)
            self.health.tick()

    async def _catch_up(self, conn: ListenConnection) -> None:
        """Drain; arm the wake-up flag; drain again if a change slipped in before the flag was
        up."""
        await self._drain()
        if self.stop.is_set():
            return
        if await conn.arm():
            await self._drain()

    async def _drain(self) -> DrainReport:
        while True:
            try:
                # Open imports are looked at on every wake-up; waiting for one here would hold
                # up the loop (and its health ticks) for the minutes Brevo may take. A dead
                # LISTEN connection interrupts the drain (`_interrupt`).
                report = await self.engine.drain(stop=self._interrupt, wait_imports=False)
            except BrevoAccountError as exc:
                if self.pause is None:
                    raise
                self.health.tick()
                if not await self.pause.wait_out(exc, self.stop):
                    return DrainReport()
                self.health.tick()
                continue
            if report.counts.get("ok") and self.pause is not None:
                self.pause.proved()
            if report.counts:
                log.debug("listener_drained", **dict(report.counts))
            return report

    def _connected(self, released: int) -> None:
        self._connected_at = self.clock()
        self._set_connected(True)
        self.health.tick()
        fields: dict[str, object] = {"worker": self.engine.worker}
        if released:
            fields["released_leases"] = released
        if self.connects:
            self.metrics.reconnects.inc()
            if self._lost_at is not None:
                fields["down_seconds"] = round(self.clock() - self._lost_at, 3)
            log.info("listener_reconnected", **fields)
        else:
            log.info("listener_connected", **fields)
        self.connects += 1
        self._lost_at = None

    def _lost(self, exc: Exception, *, connecting: bool = False) -> None:
        if self._lost_at is None:
            self._lost_at = self.clock()
        event = "listener_connect_failed" if connecting else "listener_disconnected"
        log.warning(
            event,
            error=_describe(exc),
            failures=self.backoff.failures + 1,
            exc_info=not _expected(exc),
        )
        self.outage.failed(error=_describe(exc))

    async def _pause(self) -> None:
        delay = self.backoff.failed()
        log.info("listener_reconnect_wait", seconds=round(delay, 3))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay)

    def _set_connected(self, up: bool) -> None:
        self.health.connected = up
        self.metrics.connected.set(1 if up else 0)


def _expected(exc: Exception) -> bool:
    """Failures of the database or network, as opposed to bugs (which get a traceback)."""
    return isinstance(exc, psycopg.Error | OSError | TimeoutError)


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _relay(stop: asyncio.Event, interrupt: asyncio.Event) -> None:
    await stop.wait()
    interrupt.set()


async def _close_quietly(conn: ListenConnection) -> None:
    try:
        await conn.close()
    except Exception as exc:
        log.debug("listener_close_failed", error=_describe(exc))
