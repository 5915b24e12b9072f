"""The pure parts of the sweep: the safeguard, when the mirror needs a full listing, and the
run's answer."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from api.cron import cron_authorized, status_code
from brevo_sync.config import Secret
from brevo_sync.drift import GUARD_FLOOR, guard_refusal, unsubscribe_refusal
from brevo_sync.mirror import FULL_REFRESH_EVERY, MirrorState, count_mismatch, full_refresh_reason
from brevo_sync.reconcile import SweepResult, TerminalProgress, exit_code, progress_line

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("removals", "synced", "share", "refused"), [
    (0, 0, 0.10, False),
    (10, 100, 0.10, False),            # exactly the share is allowed
    (11, 100, 0.10, True),
    (GUARD_FLOOR - 1, 5, 0.10, False),  # a handful never trips it
    (GUARD_FLOOR, 5, 0.10, True),
    (60, 100, 0.50, True),
    (50, 100, 0.50, False),
    (GUARD_FLOOR, 10, 0.0, True),      # share 0: any mass removal refused
    (100, 100, 1.0, False),            # share 1: the guard is off
])
def test_the_safeguard_refuses_more_removals_than_the_share(
        removals: int, synced: int, share: float, refused: bool) -> None:
    reason = guard_refusal(removals, synced, share)
    assert (reason is not None) == refused
    if reason is not None:
        assert f"{removals} of {synced}" in reason and "BREVO_REMOVAL_GUARD_SHARE" in reason


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


def result(status: str, failed: int = 0, **kw: object) -> SweepResult:
    return SweepResult(status, "message", run_id=7, failed=failed, **kw)  # type: ignore[arg-type]


def test_the_answer_has_the_sync_all_shape_plus_remaining() -> None:
    body = result("done", synced=3, total=4, remaining=1).as_json()
    assert {"success", "message", "synced", "failed", "total", "remaining", "results",
            "run_id"} <= body.keys()
    assert body["success"] is True and "error" not in body and "refused" not in body


@pytest.mark.parametrize(("status", "failed", "success", "code", "http"), [
    ("done", 0, True, 0, 200),
    ("partial", 0, True, 0, 200),
    ("done", 2, False, 1, 200),
    ("failed", 0, False, 1, 502),
    ("refused", 0, False, 3, 409),
    ("running", 0, False, 4, 409),
])
def test_each_outcome_has_its_exit_code_and_http_status(
        status: str, failed: int, success: bool, code: int, http: int) -> None:
    sweep = result(status, failed, refused="why" if status == "refused" else None)
    assert sweep.success is success
    assert exit_code(sweep) == code and status_code(sweep) == http
    assert ("error" in sweep.as_json()) == (status in ("failed", "running"))


def test_the_progress_line_shows_a_bar_of_the_pushes() -> None:
    line = progress_line({"listed": 1200, "drift_found": 10, "synced": 4, "failed": 1,
                          "remaining": 5}, width=10)
    assert line == "listed 1,200 | drift 10 | [#####-----] 5/10 pushed | 1 failed"


def test_the_terminal_line_is_redrawn_in_place() -> None:
    out = io.StringIO()
    bar = TerminalProgress(out, interval=0)
    bar({"listed": 1000})
    bar({"listed": 5})  # shorter: padded over the old text
    bar.close()
    assert out.getvalue() == "\rlisted 1,000\rlisted 5    \n"


@pytest.mark.parametrize(("header", "admitted"), [
    (None, False),
    ("", False),
    ("Bearer right-secret-123456", True),
    ("bearer right-secret-123456", True),
    ("Bearer wrong-secret-123456", False),
    ("Basic right-secret-123456", False),
    ("right-secret-123456", False),
    ("Bearer right-secret-1234567", False),
    ("Bearer rïght-secret-123456", False),
])
def test_only_the_bearer_secret_admits(header: str | None, admitted: bool) -> None:
    assert cron_authorized(header, Secret("right-secret-123456")) is admitted


def test_no_secret_admits_nobody() -> None:
    assert not cron_authorized("Bearer ", None)
    assert not cron_authorized("Bearer ", Secret(""))
    assert not cron_authorized("Bearer None", None)


def test_a_mass_blocklisting_in_brevo_is_refused_like_a_mass_removal() -> None:
    assert unsubscribe_refusal(3, 10, 0.10) is None          # under the floor
    assert unsubscribe_refusal(10, 100, 0.10) is None
    reason = unsubscribe_refusal(11, 100, 0.10)
    assert reason is not None and "11 of 100" in reason and "blocklisted" in reason
