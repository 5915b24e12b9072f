"""When the mirror of Brevo needs a full listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from brevo_sync.mirror import FULL_REFRESH_EVERY, MirrorState, count_mismatch, full_refresh_reason

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def state(watermark: datetime | None, full_at: datetime | None) -> MirrorState:
    return MirrorState(watermark, full_at, 10, 10, NOW)


def test_the_first_listing_is_full() -> None:
    assert "no watermark" in str(full_refresh_reason(state(None, None), asked=False))


def test_an_incremental_listing_is_enough_while_the_last_full_one_is_recent() -> None:
    recent = state(NOW - timedelta(hours=1), NOW - timedelta(days=1))
    assert full_refresh_reason(recent, asked=False) is None
    assert full_refresh_reason(recent, asked=True) == "full refresh asked for"


def test_an_old_full_listing_is_done_again() -> None:
    old = state(NOW - timedelta(hours=1), NOW - FULL_REFRESH_EVERY - timedelta(seconds=1))
    assert "older than 7 days" in str(full_refresh_reason(old, asked=False))


def test_counts_that_differ_call_for_a_full_listing() -> None:
    assert count_mismatch(5, 5) is None
    reason = count_mismatch(6, 5)
    assert reason is not None and "6" in reason and "Brevo 5" in reason
