"""How long a login must wait after failed ones: a pure policy with its own bounded memory.

Each failure is counted against keys (the client's address, the user name); a key with
FREE_FAILURES failures is refused for a delay that doubles with every further failure,
up to MAX_DELAY_SECONDS. A success forgets its keys, a key quiet for FORGET_AFTER_SECONDS
starts afresh, and past MAX_KEYS the key that failed least recently is forgotten first.

The memory is the process's own: a deployment running several processes (Vercel's
instances) gives each its own count, which slows guessing as much per process.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

FREE_FAILURES = 5
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 300.0
FORGET_AFTER_SECONDS = 3600.0
MAX_KEYS = 10_000


def delay_after(failures: int) -> float:
    """The wait imposed after `failures` consecutive failures: none before FREE_FAILURES,
    then 1 s, 2 s, 4 s… up to the maximum."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2.0 ** min(failures - FREE_FAILURES, 32))


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up: a client that waits that long is let in."""
    return str(max(1, math.ceil(seconds)))


@dataclass
class _Record:
    failures: int
    last_failure: float
    blocked_until: float


class LoginThrottle:
    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds before an attempt under these keys may be judged; 0 when it may now."""
        now = self._clock()
        waits = [record.blocked_until - now for record in self._current(keys, now)]
        return max([0.0, *waits])

    def failed(self, keys: Iterable[str]) -> int:
        """Count a failure against each key; the highest count among them."""
        now = self._clock()
        highest = 0
        for key in keys:
            record = self._live(key, now) or _Record(0, now, now)
            record.failures += 1
            record.last_failure = now
            record.blocked_until = now + delay_after(record.failures)
            self._records[key] = record
            self._records.move_to_end(key)
            highest = max(highest, record.failures)
        while len(self._records) > self._max_keys:
            self._records.popitem(last=False)
        return highest

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)

    def _current(self, keys: Iterable[str], now: float) -> list[_Record]:
        return [record for key in keys if (record := self._live(key, now)) is not None]

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last_failure > FORGET_AFTER_SECONDS:
            del self._records[key]
            return None
        return record
