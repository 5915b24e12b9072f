"""Client-side rate limiting for Brevo, shared by every task of a process.

Brevo counts requests per endpoint group: paths under ``/contacts`` ("contacts": 10 per
second *and* 36,000 per hour on the General plan) and everything else ("other", e.g.
``/processes``: 100 per hour). The limiter keeps one sliding log per limit and lets a request
go only when every log of its group has room, so the server's limits are respected rather than
discovered through 429s. It also obeys what the server says: ``x-sib-ratelimit-remaining: 0``
blocks the group for ``x-sib-ratelimit-reset`` seconds, and the client calls :meth:`penalize`
after a 429.

A caller with a deadline (a sweep with a time budget) sets it with :func:`deadline`: a wait
that would end past it raises :class:`BrevoDeadlineError` at once instead of sleeping, so an
"other" budget spent for the hour costs the caller nothing but the refusal.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

from brevo_sync.brevo.errors import BrevoDeadlineError

Group = Literal["contacts", "other"]
GROUPS: tuple[Group, ...] = ("contacts", "other")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

HOUR = 3600.0
SECOND = 1.0
# Waits shorter than this are taken as none: float rounding can leave a residue smaller than
# the clock's resolution, which would otherwise be slept forever on a coarse clock.
_EPSILON = 1e-6


# The deadline (on the limiter's clock) of whatever task is calling Brevo; tasks started within
# a `deadline()` block inherit it.
_deadline: ContextVar[float | None] = ContextVar("brevo_sync_deadline", default=None)


@contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Within the block no rate-limit wait or retry may end after `at` (a monotonic time);
    an outer, earlier deadline still holds."""
    outer = _deadline.get()
    token = _deadline.set(at if outer is None else outer if at is None else min(at, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


def current_deadline() -> float | None:
    return _deadline.get()


def group_for(path: str) -> Group:
    """The Brevo rate-limit group of an API path relative to ``/v3`` (``/contacts/…`` or not)."""
    return "contacts" if path.lstrip("/").startswith("contacts") else "other"


@dataclass(frozen=True)
class RateLimits:
    """Brevo's published limits for the account's plan (General by default).

    Two safety margins keep a strict server-side sliding 1 s window from ever refusing us:
    ``safety_margin`` stretches every window by that many seconds (a request sent at t may
    reach Brevo a little earlier or later relative to its neighbours), and ``headroom`` leaves
    that many requests of each per-second window unused, so our own traffic never drives
    ``x-sib-ratelimit-remaining`` to 0 — which would block the group for a whole rounded-up
    reset second. The defaults pace contacts calls at about 8 per second.
    """

    contacts_per_second: float = 10
    contacts_per_hour: int = 36_000
    other_per_hour: int = 100
    safety_margin: float = 0.1
    headroom: int = 1

    def windows(self, group: Group) -> list[tuple[int, float]]:
        """(requests allowed, window seconds) pairs for a group."""
        if group == "contacts":
            return [
                (self._per_second_budget(), SECOND + self.safety_margin),
                (self.contacts_per_hour, HOUR + self.safety_margin),
            ]
        return [(self.other_per_hour, HOUR + self.safety_margin)]

    def spacing(self, group: Group) -> float:
        """Minimum gap between two requests of a group, so a backlog flows evenly, not in bursts."""
        if group != "contacts":
            return 0.0
        return max(
            1.0 / self.contacts_per_second,
            (SECOND + self.safety_margin) / self._per_second_budget(),
        )

    def _per_second_budget(self) -> int:
        return max(1, int(self.contacts_per_second) - self.headroom)


@dataclass
class LimiterStats:
    """How much the limiter held requests back, for metrics."""

    waits: int = 0
    wait_seconds: float = 0.0
    waits_by_group: dict[str, int] = field(default_factory=dict)
    wait_seconds_by_group: dict[str, float] = field(default_factory=dict)

    def record(self, group: Group, seconds: float) -> None:
        self.waits += 1
        self.wait_seconds += seconds
        self.waits_by_group[group] = self.waits_by_group.get(group, 0) + 1
        self.wait_seconds_by_group[group] = self.wait_seconds_by_group.get(group, 0.0) + seconds


class _SlidingLog:
    """Send times of the last ``limit`` requests within ``period`` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._times: deque[float] = deque()

    def wait_needed(self, now: float) -> float:
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[-self.limit] + self.period - now

    def record(self, now: float) -> None:
        self._times.append(now)
        # Only the last `limit` entries ever decide a wait.
        while len(self._times) > self.limit:
            self._times.popleft()


class _GroupState:
    def __init__(self, limits: RateLimits, group: Group) -> None:
        self.logs = [_SlidingLog(limit, period) for limit, period in limits.windows(group)]
        self.spacing = limits.spacing(group)
        self.last_sent: float | None = None
        self.blocked_until = 0.0
        # FIFO hand-off: waiters queue on the lock instead of all polling the clock.
        self.lock = asyncio.Lock()

    def wait_needed(self, now: float) -> float:
        waits = [self.blocked_until - now, *(log.wait_needed(now) for log in self.logs)]
        if self.last_sent is not None:
            waits.append(self.last_sent + self.spacing - now)
        return max(0.0, *waits)

    def record(self, now: float) -> None:
        self.last_sent = now
        for log in self.logs:
            log.record(now)


class RateLimiter:
    """Async limiter per Brevo endpoint group; one instance per process, shared by all tasks."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limits = limits or RateLimits()
        self.stats = LimiterStats()
        self._clock = clock
        self._sleep = sleep
        self._groups = {group: _GroupState(self.limits, group) for group in GROUPS}

    def __repr__(self) -> str:
        return f"RateLimiter({self.limits!r})"

    async def acquire(self, group: Group) -> None:
        """Wait until one more request of ``group`` fits every limit, then count it as sent.

        Raises BrevoDeadlineError, without waiting, when the wait would end past the deadline.
        """
        state = self._groups[group]
        until = _deadline.get()
        started = self._clock()
        if until is None or not state.lock.locked():
            await state.lock.acquire()
        else:
            try:
                # Another task may hold the group for a long wait of its own.
                await asyncio.wait_for(state.lock.acquire(), max(0.0, until - started))
            except TimeoutError:
                raise BrevoDeadlineError(f"a Brevo {group} call", self._clock() - started) \
                    from None
        try:
            waited = False
            while (delay := state.wait_needed(self._clock())) > _EPSILON:
                if until is not None and self._clock() + delay > until:
                    raise BrevoDeadlineError(f"the Brevo {group} rate budget", delay)
                waited = True
                await self._sleep(delay)
            now = self._clock()
            state.record(now)
            if waited:
                self.stats.record(group, now - started)
        finally:
            state.lock.release()

    @asynccontextmanager
    async def slot(self, group: Group) -> AsyncIterator[None]:
        """``async with limiter.slot(group):`` — the body runs once the request may be sent."""
        await self.acquire(group)
        yield

    def observe(self, group: Group, headers: Mapping[str, str]) -> None:
        """Learn from Brevo's ``x-sib-ratelimit-*`` headers: block the group when it has 0 left."""
        remaining = _header_float(headers, "x-sib-ratelimit-remaining")
        reset = _header_float(headers, "x-sib-ratelimit-reset")
        if remaining is not None and remaining <= 0 and reset is not None:
            self.penalize(group, reset)

    def penalize(self, group: Group, seconds: float) -> None:
        """Hold every request of ``group`` for ``seconds`` (after a 429 or an exhausted window)."""
        state = self._groups[group]
        state.blocked_until = max(state.blocked_until, self._clock() + max(0.0, seconds))

    def blocked_for(self, group: Group) -> float:
        """Seconds before the next request of ``group`` could go (0 when it could go now)."""
        return self._groups[group].wait_needed(self._clock())


def reset_after(headers: Mapping[str, str]) -> float | None:
    """The ``x-sib-ratelimit-reset`` header in seconds, or None when absent or malformed."""
    return _header_float(headers, "x-sib-ratelimit-reset")


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
