"""An outage the listener waits out, said at error level once a minute while it lasts.

Each failed attempt is a warning, and a short blip is normal; an operator looking only at
errors must still learn, every minute, what the listener is waiting for and for how long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

REPORT_EVERY_SECONDS = 60.0

log = structlog.get_logger("listener")


@dataclass
class Outage:
    event: str  # e.g. listener_waiting_for_database
    waiting_for: str  # what the log line says it waits for, naming the setting
    every: float = REPORT_EVERY_SECONDS
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    started: float | None = None
    reported: float | None = None

    def failed(self, **fields: Any) -> bool:
        """One more failed attempt; True when this one was reported at error level."""
        now = self.clock()
        if self.started is None:
            self.started = self.reported = now
            return False
        if self.reported is not None and now - self.reported < self.every:
            return False
        self.reported = now
        log.error(self.event, waiting_for=self.waiting_for,
                  down_seconds=round(now - self.started, 1), **fields)
        return True

    def ended(self) -> None:
        self.started = self.reported = None
