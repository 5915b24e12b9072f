"""When to retry a failed Brevo call, and how long to wait first: a pure policy.

Delays use exponential backoff with *full jitter* (a uniform draw between 0 and the
exponential ceiling) so that many workers failing together do not retry together.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from brevo_sync.brevo.errors import BrevoError, BrevoRateLimitedError, BrevoTransientError

MAX_ATTEMPTS = 6
BASE_DELAY = 0.5
MAX_DELAY = 30.0
# Spread over this many seconds the workers that all wake when a rate-limit window resets.
RATE_LIMIT_JITTER = 1.0


def is_retryable(err: BrevoError) -> bool:
    """Transient errors (network, timeouts, 425, 5xx, 429) may succeed when resent."""
    return isinstance(err, BrevoTransientError)


def backoff_delay(
    attempt: int,
    *,
    base: float = BASE_DELAY,
    cap: float = MAX_DELAY,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based): uniform in [0, ceiling].

    The ceiling is ``base * 2 ** (attempt - 1)``, never more than ``cap``.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    # min() before the power would overflow for absurd attempt numbers.
    ceiling = cap if attempt > 64 else min(cap, base * 2 ** (attempt - 1))
    return ceiling * rng()


def equal_jitter_delay(
    failures: int,
    *,
    base: float,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1-based), with "equal
    jitter": half of the exponential ceiling is fixed, a floor that keeps a refusing peer from
    being asked in a tight loop; half is drawn at random, so several processes drift apart."""
    if failures < 1:
        raise ValueError(f"failures count from 1, got {failures}")
    # Past 2**64 the ceiling is the cap anyway; stop before the power overflows.
    ceiling = cap if failures > 64 else min(cap, base * 2 ** (failures - 1))
    return ceiling / 2 + rng() * ceiling / 2


def delay_for(
    err: BrevoError,
    attempt: int,
    *,
    base: float = BASE_DELAY,
    cap: float = MAX_DELAY,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before resending after ``err`` on the ``attempt``-th try.

    A 429 that says when its window resets is honoured exactly (plus a little jitter, and
    uncapped: retrying earlier only earns another 429); anything else backs off exponentially.
    """
    if isinstance(err, BrevoRateLimitedError) and err.reset_after is not None:
        return max(0.0, err.reset_after) + RATE_LIMIT_JITTER * rng()
    return backoff_delay(attempt, base=base, cap=cap, rng=rng)
