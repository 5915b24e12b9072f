"""Background processes (imports): a single FIFO worker whose durations are modelled, not slept.

A process is queued until the worker reaches it (and, as Brevo queues imports behind other
work, for at least its queue time), processing for its modelled duration, then its job runs the
next time anyone looks (`settle`), stamped with the moment it was due. A process set to fail or
be cancelled ends so at that moment, without running its job.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from brevo_sync.emulator.clock import Clock, format_millis, to_millis

# The job receives the wall-clock millisecond at which it completes and returns `info`.
Job = Callable[[int], dict[str, Any]]

FAILURE_MESSAGES = {
    "failed": "Processing timeout exceeded after 30 minutes",
    "cancelled": "Process cancelled",
}


@dataclass
class Process:
    id: int
    name: str
    created_ms: int
    starts_at: float
    due_at: float
    info: dict[str, Any] | None = None
    completed_ms: int | None = None
    ends: str = "completed"         # completed | failed | cancelled

    def status(self, now: float) -> str:
        if self.completed_ms is not None:
            return self.ends
        return "queued" if now < self.starts_at else "processing"

    def as_json(self, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status(now),
            "created_at": format_millis(self.created_ms),
            "completed_at": None,
        }
        if self.completed_ms is not None:
            body["completed_at"] = format_millis(self.completed_ms)
            if self.ends == "completed":
                body["info"] = self.info
            else:
                body["error"] = FAILURE_MESSAGES[self.ends]
        return body


class ProcessRegistry:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self._processes: dict[int, Process] = {}
        self._pending: deque[tuple[Process, Job]] = deque()
        self._next_id = 1
        self._worker_free_at = 0.0

    def allocate_id(self) -> int:
        process_id = self._next_id
        self._next_id += 1
        return process_id

    def submit(self, name: str, duration_seconds: float, job: Job, *,
               queued_seconds: float = 0.0, ends: str = "completed") -> Process:
        now = self._clock.monotonic()
        starts_at = max(now + queued_seconds, self._worker_free_at)
        self._worker_free_at = starts_at + duration_seconds
        process = Process(
            id=self.allocate_id(),
            name=name,
            created_ms=to_millis(self._clock.wall()),
            starts_at=starts_at,
            due_at=self._worker_free_at,
            ends=ends,
        )
        self._processes[process.id] = process
        self._pending.append((process, job))
        return process

    def settle(self) -> None:
        """Run every job whose modelled completion time has passed, oldest first."""
        now = self._clock.monotonic()
        while self._pending and self._pending[0][0].due_at <= now:
            process, job = self._pending.popleft()
            late_ms = to_millis(now - process.due_at)
            completed_ms = max(process.created_ms, to_millis(self._clock.wall()) - late_ms)
            if process.ends == "completed":
                process.info = job(completed_ms)
            process.completed_ms = completed_ms

    def get(self, process_id: int) -> Process | None:
        return self._processes.get(process_id)

    def page(self, *, offset: int, limit: int, sort: str) -> tuple[list[Process], int]:
        ordered = list(self._processes.values())
        if sort == "desc":
            ordered.reverse()
        return ordered[offset : offset + limit], len(ordered)

    def now(self) -> float:
        return self._clock.monotonic()
