"""The statement timeout a time budget gives, decided without a database."""

from __future__ import annotations

from brevo_sync.db import MIN_STATEMENT_SECONDS, timeout_ms


def test_a_statement_timeout_is_what_is_left_of_the_budget() -> None:
    assert timeout_ms(deadline=110.0, now=100.0) == 10_000


def test_a_statement_started_at_or_past_the_deadline_still_gets_the_floor() -> None:
    floor = round(MIN_STATEMENT_SECONDS * 1000)
    assert timeout_ms(deadline=100.0, now=100.0) == floor
    assert timeout_ms(deadline=90.0, now=100.0) == floor
