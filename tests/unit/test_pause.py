"""The pause's pure parts: the probe delays, and how a recorded pause reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brevo_sync.pause import PROBE_BASE_SECONDS, PROBE_CAP_SECONDS, Refusal, probe_delay


def test_probe_delays_grow_to_the_cap_with_a_floor() -> None:
    lowest = [probe_delay(n, rng=lambda: 0.0) for n in range(1, 10)]
    highest = [probe_delay(n, rng=lambda: 1.0) for n in range(1, 10)]
    assert lowest[0] == PROBE_BASE_SECONDS / 2 and highest[0] == PROBE_BASE_SECONDS
    assert lowest == sorted(lowest) and highest == sorted(highest)
    assert highest[-1] == PROBE_CAP_SECONDS and lowest[-1] == PROBE_CAP_SECONDS / 2


def test_probe_delay_never_overflows_and_counts_from_one() -> None:
    assert probe_delay(10_000, rng=lambda: 0.5) == pytest.approx(PROBE_CAP_SECONDS * 0.75)
    with pytest.raises(ValueError, match="count from 1"):
        probe_delay(0)


def test_a_refusal_says_why_and_since_when_but_never_more() -> None:
    since = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    refusal = Refusal(since, 401, "unauthorized", "Brevo HTTP 401 unauthorized: Key not found",
                      "listener", since, 3)
    assert "Key not found" in refusal.message and "2026-11-28T08:00:00" in refusal.message
    assert refusal.as_json() == {
        "since": "2026-11-28T08:00:00+00:00", "status": 401, "code": "unauthorized",
        "reason": "Brevo HTTP 401 unauthorized: Key not found", "source": "listener",
        "last_refused_at": "2026-11-28T08:00:00+00:00", "refusals": 3,
    }
