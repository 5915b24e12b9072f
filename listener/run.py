"""`brevo-sync listen`: the engine as a long-running service.

Wiring: settings -> Brevo client (metrics fed from its answers) -> pool -> engine -> the
LISTEN loop, beside the /healthz + /metrics server and a sampler of the queue's depth.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

import httpx
import psycopg
import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars

from brevo_sync import queue
from brevo_sync.brevo import BrevoClient
from brevo_sync.brevo.errors import BrevoAccountError, BrevoError, BrevoPermanentError
from brevo_sync.config import ConfigError, Settings
from brevo_sync.db import Pool, connect
from brevo_sync.failures import EXIT_BREVO, brevo_unavailable, describe
from brevo_sync.outcome import Outcome
from brevo_sync.pause import AccountPause, note_accepted, probe_delay
from brevo_sync.preflight import PreflightError
from brevo_sync.wiring import engine_from, limiter_from, pool_from, prepare_brevo
from listener.backoff import Backoff
from listener.connection import (
    APPLICATION_NAME,
    QUERY_TIMEOUT_SECONDS,
    end_leases,
    warn_if_pooled,
)
from listener.health import DEFAULT_PORT, Health, start_server
from listener.heartbeat import record_stop
from listener.lifecycle import STOP_DEADLINE_SECONDS, run_until_stopped, stop_on_signals
from listener.loop import POLL_SECONDS, Listener
from listener.metrics import ListenerMetrics
from listener.outage import Outage

POOL_NAME = "brevo-sync-listener"
POOL_SIZE = 6  # the engine's 8 pushes share these for their short writes
POOL_TIMEOUT_SECONDS = 5.0  # a drain waiting longer for a connection fails and reconnects
DEPTH_SECONDS = 2.0  # how often the queue gauges are refreshed
PREPARE_BACKOFF = (1.0, 60.0)  # base and cap while Brevo is unreachable at start

log = structlog.get_logger("listener")


def run(settings: Settings, metrics_port: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a graceful stop. Called by `brevo-sync listen`."""
    port = DEFAULT_PORT if metrics_port is None else metrics_port
    if not 0 <= port <= 65535:
        raise ConfigError(f"--metrics-port must be between 0 and 65535, got {port}")
    settings.require_database()
    settings.require_brevo_key()
    return asyncio.run(_main(settings, port))


async def _main(settings: Settings, port: int) -> int:
    stop, hurry = asyncio.Event(), asyncio.Event()
    with stop_on_signals(stop, hurry):
        return await serve(
            settings, metrics_port=port, stop=stop, hurry=hurry
        )


async def serve(
    settings: Settings,
    *,
    metrics_port: int = DEFAULT_PORT,
    stop: asyncio.Event,
    hurry: asyncio.Event | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    stop_deadline: float = STOP_DEADLINE_SECONDS,
    poll_seconds: float = POLL_SECONDS,
    metrics: ListenerMetrics | None = None,
    health: Health | None = None,
    pause_delay: Callable[[int], float] = probe_delay,
) -> int:
    """The whole service in the running loop; returns the exit code once `stop` is set."""
    dsn = settings.listener_dsn or settings.require_database()
    warn_if_pooled(dsn)
    metrics = metrics or ListenerMetrics()
    health = health or Health(stall_seconds=settings.listener_stall_seconds)

    def on_response(group: str, status: int, seconds: float) -> None:
        metrics.observe_response(group, status, seconds)
        health.tick()

    client = BrevoClient(
        settings.require_brevo_key().reveal(),
        settings.brevo_base_url,
        limiter=limiter_from(settings),
        transport=transport,
        timeout=settings.brevo_timeout_seconds,
        on_response=on_response,
    )
    metrics.watch_client(client)
    try:
        http = await start_server(metrics_port, health, metrics) if metrics_port else None
    except OSError as exc:
        log.error("listener_http_unavailable", port=metrics_port, error=str(exc))
        await client.aclose()
        return 1
    # Every line logged by this listener says so, and which worker (bound once known).
    try:
        with bound_contextvars(source="listener", worker=None):
            log.info(
                "listener_start",
                pid=os.getpid(),
                metrics_port=metrics_port or None,
                brevo=settings.brevo_base_url,
                list_id=settings.brevo_list_id,
            )
            async with client, pool_from(settings, POOL_NAME, max_size=POOL_SIZE) as pool:
                pool.timeout = POOL_TIMEOUT_SECONDS
                return await _serve(
                    settings,
                    dsn,
                    client,
                    pool,
                    stop=stop,
                    hurry=hurry,
                    stop_deadline=stop_deadline,
                    poll_seconds=poll_seconds,
                    metrics=metrics,
                    health=health,
                    pause_delay=pause_delay,
                )
    finally:
        if http is not None:
            http.close()
            await http.wait_closed()


async def _serve(
    settings: Settings,
    dsn: str,
    client: BrevoClient,
    pool: Pool,
    *,
    stop: asyncio.Event,
    hurry: asyncio.Event | None,
    stop_deadline: float,
    poll_seconds: float,
    metrics: ListenerMetrics,
    health: Health,
    pause_delay: Callable[[int], float],
) -> int:
    def on_outcome(outcome: Outcome) -> None:
        metrics.observe_outcome(outcome)
        health.tick()
        health.progressed()

    def on_pause(refusal: BrevoAccountError | None) -> None:
        health.paused = None if refusal is None else str(refusal)
        metrics.observe_pause(refusal)

    engine = engine_from(settings, pool, client, source="listener", on_outcome=on_outcome)
    bind_contextvars(worker=engine.worker)
    pause = AccountPause(pool, client, source="listener", on_change=on_pause,
                         on_probe=health.tick, delay=pause_delay)
    listener = Listener(
        dsn, engine, stop=stop, metrics=metrics, health=health, poll_seconds=poll_seconds,
        pause=pause,
        setting="DATABASE_URL_UNPOOLED" if settings.database_url_unpooled else "DATABASE_URL",
    )
    exit_code = 0

    async def main() -> None:
        nonlocal exit_code
        refused = await _prepare(client, settings, pause, stop)
        if refused is not None:
            exit_code = refused
            return
        if not stop.is_set():
            # This process's key works: a pause recorded earlier (by a revoked key) is over.
            await note_accepted(pool, source="listener")
        await listener.run()

    sampler = asyncio.create_task(_sample_depth(pool, metrics, health, stop),
                                  name="listener-depth")
    try:
        # Brevo hanging at start must not hold up a stop either: prepare is under the deadline.
        finished = await run_until_stopped(main(), stop, hurry, stop_deadline)
    finally:
        # Also when the loop ended on its own (Brevo refused the key): the sampler loops until
        # `stop`, and a cancel that lands while the pool is still connecting can be swallowed.
        stop.set()
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    released = await _release_leases(dsn, engine.worker)
    log.info("listener_stopped", worker=engine.worker, in_time=finished, released_leases=released)
    return exit_code


async def _prepare(client: BrevoClient, settings: Settings, pause: AccountPause,
                   stop: asyncio.Event) -> int | None:
    """The preflight checks (brevo_sync/preflight.py), retrying while Brevo is unreachable and
    pausing while it refuses the account (a revoked key, an IP not authorised: fixed in Brevo,
    not here). None when ready (or stopped meanwhile), 1 when Brevo refuses the request itself
    or the account is not set up for the sync (a missing list, an attribute of another type)."""
    backoff = Backoff(*PREPARE_BACKOFF)
    outage = Outage("listener_waiting_for_brevo", "Brevo (BREVO_BASE_URL) to answer")
    while not stop.is_set():
        try:
            await prepare_brevo(client, settings)
            return None
        except BrevoAccountError as exc:
            await pause.wait_out(exc, stop)
        except PreflightError as exc:
            log.error("listener_brevo_not_set_up", problems=exc.report.summary())
            return 1
        except BrevoPermanentError as exc:
            refused = brevo_unavailable(exc)
            log.error("listener_brevo_refused", setting=refused.setting, error=refused.cause,
                      status=exc.status)
            return EXIT_BREVO
        except BrevoError as exc:
            delay = backoff.failed()
            log.warning("listener_brevo_unavailable", error=describe(exc),
                        retry_in=round(delay, 3))
            outage.failed(error=describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return None


async def _sample_depth(pool: Pool, metrics: ListenerMetrics, health: Health,
                        stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with pool.connection() as conn:
                row = await queue.depth(conn)
            if row is not None:
                metrics.observe_depth(row)
                health.queue_sampled(int(row["ready"] or 0))
        except psycopg.Error as exc:
            log.debug("listener_depth_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), DEPTH_SECONDS)


async def _release_leases(dsn: str, worker: str) -> int | None:
    """Hand back any lease still held after the loop ended (a push cut off by the deadline);
    None when the database cannot be reached: those leases then simply expire."""
    try:
        async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
            conn = await connect(dsn, APPLICATION_NAME)
        async with conn:
            released = await end_leases(conn, worker)
            await record_stop(conn, worker)
            return released
    except (psycopg.Error, OSError, TimeoutError) as exc:
        log.warning("listener_leases_left", worker=worker, error=str(exc))
        return None
