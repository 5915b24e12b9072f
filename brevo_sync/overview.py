"""The overview: is the sync alive and keeping up? One read of the figures an admin looks at
first, for the page at /admin and for `GET /api/admin/overview`.

The JSON shape (times are ISO 8601 in UTC, durations in seconds):

    {
      "generated_at": "2026-11-28T10:00:00+00:00",
      "account": {"state": "paused" | "ok",          # ok: no refusal recorded
                  "paused": null | {since, status, code, reason, source,
                                    last_refused_at, refusals}},
      "listeners": [{"worker", "host", "pid", "started_at", "last_seen", "stopped_at",
                     "seen_seconds_ago", "state": "running" | "stopped" | "silent",
                     "running": bool, "summary": "running, last seen 2 s ago"}, ...],
      "listeners_running": 1,
      "queue": {"pending", "ready", "in_flight", "retrying",
                "oldest_queued_at": null | "...", "oldest_seconds": null | 12.5},
      "activity": {"hours": 48, "pushes": 1200, "failures": 3, "retries": 1,
                   "per_hour": [{"hour": "2026-11-26T11:00:00+00:00",
                                 "pushes", "failures", "retries"}, ...]},  # oldest first
      "sweeps": [{"id", "source", "started_at", "finished_at", "status", "seconds",
                  "counts": {...}, "message"}, ...]                          # newest first
    }

A listener is "running" while its heartbeat (listener/heartbeat.py, every HEARTBEAT_SECONDS)
is younger than SILENT_AFTER_SECONDS; "stopped" once it recorded a graceful stop; "silent"
when its heartbeats stopped without one (killed, hung, cut off from the database). A push
is an attempt that changed Brevo (create, update, remove); a failure one that did not
(refused for good, or left to retry: `retries` counts those among the failures).
Rows older than SETTLE_SECONDS are counted once and their counts kept per hour
(brevo_sync.history_hours); only newer rows are counted on every read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from psycopg import AsyncConnection

from brevo_sync.db import q
from brevo_sync.pause import Refusal, read_refusal

# How often each listener records its heartbeat (listener/heartbeat.py).
HEARTBEAT_SECONDS = 5.0
# Three heartbeats missed: the listener is no longer taken for running.
SILENT_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
HOURS = 48
LISTENERS_SHOWN = 10
SWEEPS_SHOWN = 10
PUSH_ACTIONS = ["create", "update", "remove"]
# A history row carries the time its statement started, and is committed when that (short)
# statement ends: rows older than this no longer change, and their counts are kept
# (brevo_sync.history_hours) instead of being counted again on every read.
SETTLE_SECONDS = 60.0
# Any constant works; this one spells "bhours" in ASCII.
FILL_LOCK_KEY = 0x62_68_6F_75_72_73

ListenerState = Literal["running", "stopped", "silent"]


def listener_state(stopped_at: datetime | None, seen_seconds_ago: float,
                   silent_after: float = SILENT_AFTER_SECONDS) -> ListenerState:
    if stopped_at is not None:
        return "stopped"
    return "running" if seen_seconds_ago <= silent_after else "silent"


def duration(seconds: float) -> str:
    """A duration as a person reads it: 2 s, 4 min 10 s, 3 h 5 min, 2 d 4 h."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def stamp(value: datetime) -> str:
    """A moment as the page shows it, in UTC to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Window:
    """The chart's hours: `start` to `current` (the hour under way), UTC hour starts. Rows
    before `settled` are settled: counted once and kept; those after are counted live."""

    start: datetime
    settled: datetime
    current: datetime

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "settled": self.settled, "current": self.current,
                "push_actions": PUSH_ACTIONS}


def hour_window(now: datetime, hours: int = HOURS, settle: float = SETTLE_SECONDS) -> Window:
    current = _hour_of(now)
    return Window(start=current - timedelta(hours=hours - 1),
                  settled=now - timedelta(seconds=settle), current=current)


def _hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class ListenerBeat:
    worker: str
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    seen_seconds_ago: float

    @property
    def state(self) -> ListenerState:
        return listener_state(self.stopped_at, self.seen_seconds_ago)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def summary(self) -> str:
        if self.state == "running":
            return f"running, last seen {duration(self.seen_seconds_ago)} ago"
        if self.stopped_at is not None:
            return f"not running since {stamp(self.stopped_at)} (stopped)"
        return (f"not running since {stamp(self.last_seen)} (no heartbeat for "
                f"{duration(self.seen_seconds_ago)})")

    def as_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "seen_seconds_ago": round(self.seen_seconds_ago, 3),
            "state": self.state,
            "running": self.running,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class QueueDepth:
    pending: int
    ready: int
    in_flight: int
    retrying: int
    oldest_queued_at: datetime | None
    oldest_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "ready": self.ready,
            "in_flight": self.in_flight,
            "retrying": self.retrying,
            "oldest_queued_at": self.oldest_queued_at.isoformat()
            if self.oldest_queued_at else None,
            "oldest_seconds": None if self.oldest_seconds is None
            else round(self.oldest_seconds, 3),
        }


@dataclass(frozen=True)
class Hour:
    hour: datetime
    pushes: int
    failures: int
    retries: int

    def as_json(self) -> dict[str, Any]:
        return {"hour": self.hour.isoformat(), "pushes": self.pushes,
                "failures": self.failures, "retries": self.retries}


@dataclass(frozen=True)
class Sweep:
    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    counts: dict[str, Any]
    message: str | None
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "message": self.message,
        }


@dataclass(frozen=True)
class Overview:
    generated_at: datetime
    paused: Refusal | None
    listeners: list[ListenerBeat]
    queue: QueueDepth
    hours: list[Hour]
    sweeps: list[Sweep] = field(default_factory=list)

    @property
    def listeners_running(self) -> int:
        return sum(1 for beat in self.listeners if beat.running)

    def totals(self) -> dict[str, int]:
        return {name: sum(getattr(h, name) for h in self.hours)
                for name in ("pushes", "failures", "retries")}

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "account": {"state": "paused" if self.paused else "ok",
                        "paused": self.paused.as_json() if self.paused else None},
            "listeners": [beat.as_json() for beat in self.listeners],
            "listeners_running": self.listeners_running,
            "queue": self.queue.as_json(),
            "activity": {"hours": len(self.hours), **self.totals(),
                         "per_hour": [h.as_json() for h in self.hours]},
            "sweeps": [sweep.as_json() for sweep in self.sweeps],
        }


async def read_overview(conn: AsyncConnection[Any], *, hours: int = HOURS) -> Overview:
    """Every figure, in one short transaction on `conn` (autocommit): a few reads, and the
    per-hour counts brought forward (see read_hours). No lock the application needs."""
    async with conn.transaction():
        await conn.execute(q("overview_settings"))
        now = await _one(conn, "overview_now", {})
        beats = await _all(conn, "overview_listeners",
                           {"stale": SILENT_AFTER_SECONDS, "limit": LISTENERS_SHOWN})
        depth = await _one(conn, "overview_queue", {})
        per_hour = await read_hours(conn, hour_window(now["now"], hours))
        runs = await _all(conn, "overview_sweeps", {"limit": SWEEPS_SHOWN})
        paused = await read_refusal(conn)
    return Overview(
        generated_at=now["now"],
        paused=paused,
        listeners=[ListenerBeat(**row) for row in beats],
        queue=QueueDepth(**depth),
        hours=[Hour(**row) for row in per_hour],
        sweeps=[Sweep(**{**row, "counts": dict(row["counts"] or {})}) for row in runs],
    )


async def read_hours(conn: AsyncConnection[Any], window: Window) -> list[dict[str, Any]]:
    """Pushes and failures per hour of `window`, inside the caller's transaction. Settled rows
    not counted yet are counted and kept first, by one overview at a time (a concurrent one
    reads past the kept counts, which its snapshot shows as they were)."""
    locked = await _one(conn, "overview_fill_lock", {"key": FILL_LOCK_KEY})
    if locked["locked"]:
        await conn.execute(q("overview_hours_fill"), window.params())
        await conn.execute(q("overview_hours_forget"), window.params())
    return await _all(conn, "overview_hours", window.params())


async def _one(conn: AsyncConnection[Any], name: str, params: dict[str, Any]) -> Any:
    row = await (await conn.execute(q(name), params)).fetchone()
    assert row is not None, f"{name} returns one row"
    return row


async def _all(conn: AsyncConnection[Any], name: str, params: dict[str, Any]) -> list[Any]:
    return list(await (await conn.execute(q(name), params)).fetchall())
