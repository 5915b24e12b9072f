"""The reconnect policy: growing, capped, jittered, never near zero."""

from __future__ import annotations

import pytest

from listener.backoff import Backoff, reconnect_delay


def test_delays_double_until_the_cap_with_half_of_each_fixed() -> None:
    low = [reconnect_delay(n, base=0.5, cap=10, rng=lambda: 0.0) for n in range(1, 8)]
    high = [reconnect_delay(n, base=0.5, cap=10, rng=lambda: 1.0) for n in range(1, 8)]
    assert low == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert high == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_database_refusing_at_once_is_never_hammered() -> None:
    """Even the unluckiest draws add up to more than 30 s over ten failures in a row."""
    assert sum(reconnect_delay(n, rng=lambda: 0.0) for n in range(1, 11)) > 30


def test_absurd_failure_counts_stay_at_the_cap() -> None:
    assert reconnect_delay(10_000, base=0.5, cap=10, rng=lambda: 1.0) == 10.0


def test_failures_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        reconnect_delay(0)


def test_backoff_grows_with_failures_and_starts_over_after_success() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=lambda: 0.0)
    assert [backoff.failed() for _ in range(3)] == [0.5, 1.0, 2.0]
    backoff.succeeded()
    assert backoff.failures == 0 and backoff.failed() == 0.5
