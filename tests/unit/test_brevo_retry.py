"""The pure retry policy: exponential backoff with full jitter, 429 resets honoured."""

from __future__ import annotations

import random

import pytest

from brevo_sync.brevo.errors import BrevoPermanentError, BrevoRateLimitedError, BrevoTransientError
from brevo_sync.brevo.retry import (
    MAX_ATTEMPTS,
    RATE_LIMIT_JITTER,
    backoff_delay,
    delay_for,
    is_retryable,
)


def test_ceiling_doubles_from_base() -> None:
    """With the jitter draw at its maximum the delay is the exponential ceiling."""
    top = [backoff_delay(n, base=0.5, cap=30.0, rng=lambda: 1.0) for n in range(1, 8)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


def test_delay_never_exceeds_cap() -> None:
    assert backoff_delay(10_000, cap=30.0, rng=lambda: 1.0) == 30.0


@pytest.mark.parametrize("attempt", range(1, 12))
def test_full_jitter_stays_within_zero_and_ceiling(attempt: int) -> None:
    rng = random.Random(attempt).random
    ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, rng=rng) for _ in range(200)]
    assert all(0.0 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 150, "delays must be spread, not a fixed schedule"


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(0)


def test_rate_limit_reset_is_honoured_plus_jitter() -> None:
    err = BrevoRateLimitedError("429", reset_after=12.0)
    assert delay_for(err, 1, rng=lambda: 0.0) == 12.0
    assert delay_for(err, 1, rng=lambda: 1.0) == 12.0 + RATE_LIMIT_JITTER


def test_rate_limit_without_reset_backs_off() -> None:
    err = BrevoRateLimitedError("429", reset_after=None)
    assert delay_for(err, 3, rng=lambda: 1.0) == 2.0


def test_transient_error_backs_off() -> None:
    assert delay_for(BrevoTransientError("503"), 2, rng=lambda: 0.5) == 0.5


def test_only_transient_errors_are_retryable() -> None:
    assert is_retryable(BrevoTransientError("x"))
    assert is_retryable(BrevoRateLimitedError("x"))
    assert not is_retryable(BrevoPermanentError(400, "invalid_parameter", "Invalid phone number"))


def test_default_budget_is_bounded() -> None:
    """The worst case of all default retries stays under about a minute."""
    total = sum(backoff_delay(n, rng=lambda: 1.0) for n in range(1, MAX_ATTEMPTS))
    assert total <= 60.0
