"""Time for the emulator: wall time for timestamps, monotonic time for modelled durations.

Both are injectable so tests can move time instead of sleeping.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

# A "+02:00" offset sent without URL-encoding arrives as " 02:00".
_UNENCODED_PLUS = re.compile(r"(T[\d:.]+) (\d{2}:?\d{2})$")


class Clock:
    def wall(self) -> float:
        """Seconds since the epoch, for createdAt/modifiedAt."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for import durations, storms and rate limits."""
        return time.monotonic()


class ManualClock(Clock):
    """A clock that only moves when told to (for tests)."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._wall = start
        self._monotonic = 1000.0

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._monotonic += seconds


def to_millis(seconds: float) -> int:
    return int(seconds * 1000)


def format_millis(millis: int) -> str:
    """Brevo's documented form: UTC, milliseconds, trailing Z."""
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def parse_timestamp(text: str) -> int | None:
    """Milliseconds for an ISO-8601 date-time (offset or Z; naive means UTC), None if unparsable."""
    try:
        moment = datetime.fromisoformat(_UNENCODED_PLUS.sub(r"\1+\2", text.strip()))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
