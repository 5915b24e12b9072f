"""`/healthz` and `/metrics` on a small port, served by a few lines of asyncio.

A full web framework would bring its own signal handling and threads into the listener's
process; two read-only routes need neither.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from listener.metrics import CONTENT_TYPE, ListenerMetrics

DEFAULT_PORT = 9108
# Prometheus scrapes from outside the container; nothing served here is secret.
HOST = "0.0.0.0"  # noqa: S104
# The loop ticks at least every poll interval and on every Brevo answer; longer silence means
# it is stuck. Generous, so a long rate-limit wait is not taken for a hang.
STALE_SECONDS = 60.0
# Rows ready to push and none pushed (nor claimed) for this long: alive, but making no progress
# (a claim that never returns, say). LISTENER_STALL_SECONDS sets it; a rate-limited backlog
# still pushes several a second, so minutes without one is no slow day.
STALL_SECONDS = 300.0
READ_TIMEOUT_SECONDS = 5.0

log = structlog.get_logger("listener.health")


@dataclass
class Health:
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    stall_seconds: float = STALL_SECONDS
    connected: bool = False
    last_tick: float | None = None
    paused: str | None = None  # Brevo's reason while it refuses the account
    ready_rows: int = 0                  # rows ready to push at the last sample of the queue
    last_progress: float | None = None   # a push, fewer rows ready, or none (None: the start)

    def __post_init__(self) -> None:
        if self.last_progress is None:
            self.last_progress = self.clock()

    def tick(self) -> None:
        self.last_tick = self.clock()

    def progressed(self) -> None:
        self.last_progress = self.clock()

    def queue_sampled(self, ready: int) -> None:
        """A sample of the queue: nothing ready, or fewer ready than before (rows claimed),
        is progress as much as a push is."""
        if ready == 0 or ready < self.ready_rows:
            self.progressed()
        self.ready_rows = ready

    def check(self) -> tuple[bool, dict[str, object]]:
        """(healthy, details): the LISTEN connection is up, the loop ticked recently, and it
        is not stalled on a queue with rows ready."""
        now = self.clock()
        age = None if self.last_tick is None else now - self.last_tick
        fresh = age is not None and age < STALE_SECONDS
        idle = now - (self.last_progress or now)
        # Paused by Brevo refusing the account is waiting, not a stall: a restart would not help.
        stalled = self.paused is None and self.ready_rows > 0 and idle > self.stall_seconds
        healthy = self.connected and fresh and not stalled
        body: dict[str, object] = {
            "status": "ok" if healthy else "unhealthy",
            "connected": self.connected,
            "last_tick_seconds_ago": None if age is None else round(age, 3),
            "ready": self.ready_rows,
            "stalled": stalled,
            "progress_seconds_ago": round(idle, 3),
        }
        if self.paused is not None:
            body["paused"] = self.paused
        return healthy, body

    def ready(self) -> tuple[bool, dict[str, object]]:
        """(ready, details): healthy, and pushing (not paused by Brevo refusing the account).
        A pause is not a liveness failure: restarting the process would not end it."""
        healthy, body = self.check()
        if healthy and self.paused is not None:
            body = {**body, "status": "paused",
                    "error": f"Brevo refuses the account: {self.paused}"}
        return healthy and self.paused is None, body


Response = tuple[int, str, bytes]


def route(method: str, path: str, health: Health, metrics: ListenerMetrics) -> Response:
    if path not in ("/healthz", "/readyz", "/metrics"):
        return _json(404, {"error": f"no route {path}; try /healthz, /readyz or /metrics"})
    if method not in ("GET", "HEAD"):
        return _json(405, {"error": f"{method} is not allowed; use GET"})
    if path == "/metrics":
        return 200, CONTENT_TYPE, metrics.render()
    healthy, body = health.ready() if path == "/readyz" else health.check()
    return _json(200 if healthy else 503, body)


def _json(status: int, body: dict[str, object]) -> Response:
    return status, "application/json", json.dumps(body).encode()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


async def start_server(
    port: int, health: Health, metrics: ListenerMetrics, host: str = HOST
) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, status, content_type, body = await _answer(reader, health, metrics)
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write(head if method == "HEAD" else head + body)
            await writer.drain()
        except (ConnectionError, TimeoutError):
            pass  # the client went away; nothing to tell it
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    log.info("listener_http", port=port, routes=["/healthz", "/readyz", "/metrics"])
    return server


async def _answer(
    reader: asyncio.StreamReader, health: Health, metrics: ListenerMetrics
) -> tuple[str, int, str, bytes]:
    try:
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        return ("GET", *_json(431, {"error": "request headers too large"}))
    except asyncio.IncompleteReadError:
        return ("GET", *_json(400, {"error": "incomplete request"}))
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        return ("GET", *_json(400, {"error": "malformed request line"}))
    method, target = parts[0], parts[1]
    return (method, *route(method, target.split("?", 1)[0], health, metrics))
