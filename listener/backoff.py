"""How long to wait before reconnecting: a pure policy, tested without a database.

Exponential with "equal jitter": half of each step is fixed, half is drawn at random. The
fixed half guarantees a floor, so a database that refuses connections at once is never hammered
in a tight loop; the random half keeps several listeners from reconnecting in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from brevo_sync.brevo.retry import equal_jitter_delay

BASE_SECONDS = 0.5
CAP_SECONDS = 10.0


def reconnect_delay(
    failures: int,
    *,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1-based)."""
    return equal_jitter_delay(failures, base=base, cap=cap, rng=rng)


@dataclass
class Backoff:
    """Failures in a row, and the delay the next one earns; `succeeded()` starts over."""

    base: float = BASE_SECONDS
    cap: float = CAP_SECONDS
    rng: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0

    def failed(self) -> float:
        self.failures += 1
        return reconnect_delay(self.failures, base=self.base, cap=self.cap, rng=self.rng)

    def succeeded(self) -> None:
        self.failures = 0
