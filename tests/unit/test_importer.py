"""The import job's pure decisions: when to look, when to poll, when an import is settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brevo_sync.brevo import Contact, ImportProcess
from brevo_sync.brevo.errors import (
    BrevoDeadlineError,
    BrevoNotFoundError,
    BrevoPermanentError,
    BrevoRateLimitedError,
    BrevoTransientError,
)
from brevo_sync.importer import (
    ImportTiming,
    carries,
    check_after,
    discovered,
    import_failure,
    next_step,
    wants_discovery,
    wants_poll,
)

TIMING = ImportTiming(first_check=1.0, check_max=15.0, first_poll=30.0, unknown_grace=600.0)
SINCE = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_looks_start_soon_and_grow_to_a_cap() -> None:
    assert [check_after(n, TIMING) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert check_after(10_000, TIMING) == 15.0


def test_a_process_is_polled_only_once_posted_waiting_and_old_enough() -> None:
    assert wants_poll("waiting", 7, 30.0, TIMING)
    assert not wants_poll("waiting", 7, 29.0, TIMING)
    assert not wants_poll("waiting", None, 300.0, TIMING)
    assert not wants_poll("unknown", None, 300.0, TIMING)
    assert not wants_poll("posting", None, 300.0, TIMING)


@pytest.mark.parametrize("status", [None, "queued", "processing"])
def test_not_finished_is_waited_for_never_answered_by_posting_again(status: str | None) -> None:
    assert next_step("waiting", status, missing=5, age=3_000.0, timing=TIMING) == "wait"


def test_every_row_found_settles_the_import_whatever_brevo_said() -> None:
    assert next_step("waiting", None, missing=0, age=1.0, timing=TIMING) == "done"
    assert next_step("unknown", None, missing=0, age=1.0, timing=TIMING) == "done"


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "missing"])
def test_an_ended_process_sends_rows_not_found_one_by_one(status: str) -> None:
    assert next_step("waiting", status, missing=3, age=1.0, timing=TIMING) == "one_by_one"


@pytest.mark.parametrize("status", ["unknown", "posting"])
def test_an_unanswered_post_is_waited_for_then_its_rows_go_one_by_one(status: str) -> None:
    assert next_step(status, None, missing=3, age=599.0, timing=TIMING) == "wait"
    assert next_step(status, None, missing=3, age=600.0, timing=TIMING) == "one_by_one"


def _contact(created: datetime) -> Contact:
    return Contact(1, "a@example.com", {}, [2], False, False, created, created)


def test_a_contact_created_since_the_import_began_carries_its_create() -> None:
    assert carries(_contact(SINCE + timedelta(seconds=1)), "create", SINCE, completed=False)


def test_an_older_contact_or_an_update_counts_only_once_the_process_completed() -> None:
    older, newer = _contact(SINCE - timedelta(days=1)), _contact(SINCE + timedelta(seconds=1))
    assert not carries(older, "create", SINCE, completed=False)
    assert not carries(newer, "update", SINCE, completed=False)
    assert carries(older, "create", SINCE, completed=True)
    assert carries(newer, "update", SINCE, completed=True)


def test_what_a_failed_import_post_means() -> None:
    assert import_failure(BrevoPermanentError(400, "invalid_parameter", "bad")) == "refused"
    assert import_failure(BrevoPermanentError(401, "unauthorized", "Key not found")) == "not_sent"
    assert import_failure(BrevoNotFoundError(404, "document_not_found", "List")) == "not_sent"
    assert import_failure(BrevoRateLimitedError("429", reset_after=3)) == "not_sent"
    assert import_failure(BrevoDeadlineError("the Brevo contacts rate budget", 9.0)) == "not_sent"
    # A time-out or a 5xx may have been taken all the same.
    assert import_failure(BrevoTransientError("timed out")) == "unknown"
    assert import_failure(BrevoTransientError("Brevo HTTP 524", status=524)) == "unknown"


def _process(process_id: int, created: datetime, name: str = "IMPORTUSER") -> ImportProcess:
    return ImportProcess(process_id, "queued", name=name, created_at=created)


def test_an_unanswered_import_is_looked_for_once_when_brevo_had_time_to_list_it() -> None:
    assert wants_discovery("posting", tried=False, age=15.0, timing=TIMING)
    assert not wants_discovery("posting", tried=False, age=14.0, timing=TIMING)
    assert not wants_discovery("unknown", tried=False, age=59.0, timing=TIMING)
    assert wants_discovery("unknown", tried=False, age=60.0, timing=TIMING)
    assert not wants_discovery("unknown", tried=True, age=600.0, timing=TIMING)
    assert not wants_discovery("waiting", tried=False, age=600.0, timing=TIMING)


def test_the_one_new_import_process_nobody_holds_is_adopted() -> None:
    after, before = SINCE + timedelta(seconds=5), SINCE - timedelta(minutes=5)
    processes = [_process(9, after), _process(8, after, name="CONTACT_EXPORT"),
                 _process(7, after), _process(6, before)]
    assert discovered(processes, SINCE, known={7}, complete=False) == ("adopt", 9)


def test_no_new_import_process_means_the_post_never_reached_brevo() -> None:
    before = SINCE - timedelta(minutes=5)
    assert discovered([_process(6, before)], SINCE, known=set(), complete=False) == (
        "absent", None)
    assert discovered([], SINCE, known=set(), complete=True) == ("absent", None)


def test_two_candidates_or_a_page_that_does_not_reach_back_cannot_tell() -> None:
    after = SINCE + timedelta(seconds=5)
    assert discovered([_process(9, after), _process(10, after)], SINCE, known=set(),
                      complete=True) == ("unsure", None)
    assert discovered([_process(9, after, name="LIST_EXPORT")] * 50, SINCE, known=set(),
                      complete=False) == ("unsure", None)
