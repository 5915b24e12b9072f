"""A clock for tests: a monotonic time that moves only when a test (or a sleep) moves it."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Call it for the time; `now` is set or advanced by the test, `sleep` advances it (and
    keeps what was slept)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
