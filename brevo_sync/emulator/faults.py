"""Brevo's rate limits (sliding windows) and the injected faults: 429 storms, 5xx, time-outs."""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from brevo_sync.emulator.clock import Clock
from brevo_sync.emulator.config import EmulatorConfig

CONTACTS = "contacts"
OTHER = "other"


def limit_group(path: str) -> str:
    """Brevo limits /v3/contacts* apart from "all other endpoints" (e.g. /v3/processes)."""
    return CONTACTS if path.startswith("/v3/contacts") else OTHER


@dataclass(frozen=True)
class Quota:
    """What the x-sib-ratelimit-* headers report, and whether the call may proceed."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-sib-ratelimit-limit", str(self.limit).encode()),
            (b"x-sib-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-sib-ratelimit-reset", str(self.reset_seconds).encode()),
        ]


class SlidingWindow:
    """Accepted calls within the last `seconds`: at most `limit` in any window of that length.

    A fixed window would let a client land a full quota at the end of one window and another at
    the start of the next; the sliding log forbids that, as the tests of client pacing need.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._hits: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.seconds:
            self._hits.popleft()

    def used(self, now: float) -> int:
        self._expire(now)
        return len(self._hits)

    def reset_in(self, now: float) -> int:
        """Whole seconds until the oldest call leaves the window (when a slot frees up)."""
        self._expire(now)
        if not self._hits:
            return math.ceil(self.seconds)
        return max(1, math.ceil(self._hits[0] + self.seconds - now))

    def add(self, now: float) -> None:
        self._hits.append(now)


class EmulatedRateLimits:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self._windows = {
            CONTACTS: (SlidingWindow(1.0), SlidingWindow(3600.0)),
            OTHER: (SlidingWindow(3600.0),),
        }

    def _limits(self, group: str, config: EmulatorConfig) -> tuple[int, ...]:
        if group == CONTACTS:
            return (config.contacts_rps, config.contacts_rph)
        return (config.other_rph,)

    def acquire(self, group: str, config: EmulatorConfig) -> Quota:
        """Take one call from every window of the group, or refuse it when any is exhausted."""
        windows, limits = self._windows[group], self._limits(group, config)
        if not config.rate_limits:
            return Quota(True, limits[0], limits[0], math.ceil(windows[0].seconds))
        now = self._clock.monotonic()
        for window, limit in zip(windows, limits, strict=True):
            if window.used(now) >= limit:
                return Quota(False, limit, 0, window.reset_in(now))
        for window in windows:
            window.add(now)
        return self._tightest(windows, limits, now)

    def _tightest(
        self, windows: tuple[SlidingWindow, ...], limits: tuple[int, ...], now: float
    ) -> Quota:
        quotas = [
            Quota(True, limit, limit - window.used(now), window.reset_in(now))
            for window, limit in zip(windows, limits, strict=True)
        ]
        return min(quotas, key=lambda quota: quota.remaining)

    def peek(self, group: str, config: EmulatorConfig) -> Quota:
        """The headers for a call that does not count (e.g. refused for its api-key)."""
        windows, limits = self._windows[group], self._limits(group, config)
        if not config.rate_limits:
            return Quota(True, limits[0], limits[0], math.ceil(windows[0].seconds))
        return self._tightest(windows, limits, self._clock.monotonic())


class FaultInjector:
    """Random faults drawn from one seeded generator, so a seeded run replays the same faults."""

    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self._clock = clock
        self._seed = config.seed
        self._random = random.Random(config.seed)
        self._storm_until = 0.0

    def reset(self, config: EmulatorConfig) -> None:
        self._seed = config.seed
        self._random = random.Random(config.seed)
        self._storm_until = 0.0

    def _roll(self, config: EmulatorConfig, rate: float) -> bool:
        if config.seed != self._seed:
            self.reset(config)
        return rate > 0 and self._random.random() < rate

    def storm_seconds_left(self, config: EmulatorConfig) -> float:
        """Seconds of 429 storm remaining (0 when calm); may start a storm on this call."""
        now = self._clock.monotonic()
        if now >= self._storm_until and self._roll(config, config.storm_rate):
            self._storm_until = now + config.storm_seconds
        return max(0.0, self._storm_until - now)

    def server_error(self, config: EmulatorConfig) -> int | None:
        if not self._roll(config, config.error_rate):
            return None
        return self._random.choice((502, 503))

    def times_out(self, config: EmulatorConfig) -> bool:
        return self._roll(config, config.timeout_rate)
