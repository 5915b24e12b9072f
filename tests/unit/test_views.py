"""The views' pure parts: query parsing, paging windows, statuses, differences."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brevo_sync.history import parse_history_query
from brevo_sync.views import (
    MAX_PER_PAGE,
    SMS_WITHHELD,
    SORTS,
    STATE_SORTS,
    Status,
    UnknownView,
    ViewError,
    ViewQuery,
    check_depth,
    customer_row,
    customer_status,
    differences,
    last_page,
    like_pattern,
    order_by,
    page_window,
    parse_view_query,
    shown_status,
)


def test_defaults_when_nothing_is_given() -> None:
    assert parse_view_query("neon", {}) == ViewQuery("neon", 1, 50, None, "email", "asc")


def test_values_are_read_and_the_search_trimmed() -> None:
    query = parse_view_query(
        "brevo", {"page": "3", "per_page": "250", "q": "  Zoë ", "sort": "modified", "dir": "desc"}
    )
    assert query == ViewQuery("brevo", 3, MAX_PER_PAGE, "Zoë", "modified", "desc")
    assert query.offset == 500


def test_an_unknown_view_is_its_own_error() -> None:
    with pytest.raises(UnknownView, match="unknown view"):
        parse_view_query("../etc", {})


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-1"},
        {"per_page": "1000000000"},
        {"sort": "modified"},
        {"dir": "up"},
        {"page": "1e3"},
    ],
)
def test_bad_values_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(ViewError):
        parse_view_query("neon", params)


def test_like_pattern_escapes_its_wildcards() -> None:
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"
    assert like_pattern("MÜLLER") == "%müller%"


def test_order_always_ends_with_the_id() -> None:
    assert (
        order_by(("sort_last", "sort_first"), "desc") == "sort_last DESC, sort_first DESC, id DESC"
    )


@pytest.mark.parametrize(
    ("total", "page", "expected"),
    [
        (10, 1, (0, 3, False)),
        (10, 2, (3, 3, False)),
        (10, 3, (1, 3, True)),  # rows 6..8 are rows 1..3 from the end
        (10, 4, (0, 1, True)),  # the short last page: row 9 alone
        (10, 5, None),
        (0, 1, None),
    ],
)
def test_pages_past_the_middle_are_read_from_the_end(
    total: int, page: int, expected: tuple[int, int, bool] | None
) -> None:
    assert page_window(total, ViewQuery("neon", page=page, per_page=3)) == expected


def test_deep_pages_are_refused_only_without_an_index() -> None:
    check_depth(ViewQuery("neon", sort="email"), 50_000)
    check_depth(ViewQuery("brevo", sort="name"), 50_000)
    check_depth(ViewQuery("neon", sort="name"), 10_000)
    with pytest.raises(ViewError, match="sort by email"):
        check_depth(ViewQuery("neon", sort="name"), 10_001)
    with pytest.raises(ViewError, match="narrow the search"):
        check_depth(ViewQuery("neon", search="a"), 10_001)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"queued": True}, "pending"),
        ({"queued": True, "queue_error": "503"}, "retrying"),
        ({"state": "error", "last_error": "Invalid phone number"}, "error"),
        ({"state": "synced", "in_brevo": True}, "in_sync"),
        ({"state": "synced", "in_brevo": False}, "missing"),
        ({"state": "removed", "opted_in": False}, "removed"),
        ({}, "not_synced"),
        ({"opted_in": False, "state": "skipped"}, "opted_out"),
    ],
)
def test_one_status_per_customer(kwargs: dict[str, object], code: str) -> None:
    given = {
        "opted_in": True,
        "in_brevo": False,
        "queued": False,
        "queue_error": None,
        "state": None,
        "last_error": None,
        **kwargs,
    }
    status = customer_status(**given)  # type: ignore[arg-type]
    assert status.code == code
    assert status.message == (given["last_error"] or given["queue_error"])


def row(**changes: object) -> dict[str, object]:
    base = {
        "m_id": 7,
        "first_name": "Ada",
        "m_first_name": "Ada",
        "last_name": None,
        "m_last_name": "",
        "phone": "06 12 34 56 78",
        "m_sms": "33612345678",
        "used_welcome_offer": False,
        "m_used_welcome_offer": None,
        "marketing_opt_in": True,
        "m_email_blacklisted": False,
        "m_list_ids": [2],
    }
    return {**base, **changes}


def test_equal_rows_differ_in_nothing() -> None:
    assert differences(row(), phone_region="FR", list_id=2) == []


def test_each_difference_is_named() -> None:
    changed = row(
        m_first_name="Adelaide",
        m_sms="33700000000",
        m_used_welcome_offer=True,
        m_email_blacklisted=True,
        m_list_ids=[],
    )
    assert differences(changed, phone_region="FR", list_id=2) == [
        "first_name",
        "phone",
        "used_welcome_offer",
        "blocklisted",
        "list",
    ]


def test_a_customer_brevo_lacks_has_no_differences() -> None:
    assert differences(row(m_id=None)) == []


def test_history_customer_is_an_id_or_an_email() -> None:
    by_id = parse_history_query({"customer": "2b1e4c5d-0000-4000-8000-000000000000"})
    assert by_id.customer_id is not None and by_id.email is None
    assert parse_history_query({"customer": " Ada@Example.com "}).email == "ada@example.com"
    with pytest.raises(ViewError):
        parse_history_query({"customer": "ada"})


def test_a_boolean_brevo_leaves_out_is_false() -> None:
    assert differences(row(m_used_welcome_offer=None), phone_region="FR") == []
    assert differences(row(used_welcome_offer=True, m_used_welcome_offer=None),
                       phone_region="FR") == ["used_welcome_offer"]


def test_a_list_the_person_left_is_not_a_difference() -> None:
    assert differences(row(m_list_ids=[], m_list_unsubscribed=[2]), phone_region="FR",
                       list_id=2) == []


def test_a_phone_left_out_is_not_a_difference_and_is_noted() -> None:
    full = {**row(phone="+1 555 0100", m_sms=None), "id": 1, "email": "ada@example.com",
            "created_at": None, "brevo_contact_id": 7, "m_email": "ada@example.com",
            "queued": False, "queue_error": None, "s_status": "synced", "last_error": None,
            "last_synced_at": None}
    shown = customer_row(full, phone_region="FR", list_id=2)
    assert shown["differs"] == [] and shown["status"] == "in_sync"
    assert shown["notes"] == ["phone '+1 555 0100' left out: not a valid phone number;"
                              " pushed without it"]
    assert customer_row({**full, "phone": "06 12 34 56 78"}, phone_region="FR")["notes"] == []


def synced_row(**changes: object) -> dict[str, object]:
    return row(**{"id": 1, "email": "ada@example.com", "created_at": None,
                  "brevo_contact_id": 7, "m_email": "ada@example.com", "queued": False,
                  "queue_error": None, "s_status": "synced", "last_error": None,
                  "last_synced_at": None, **changes})


def test_a_synced_row_that_differs_says_so_and_can_be_pushed() -> None:
    shown = customer_row(synced_row(first_name="Ada", m_first_name="Adelaide"),
                         phone_region="FR")
    assert shown["differs"] == ["first_name"]
    assert (shown["status"], shown["status_label"]) == ("differs", "differs from Brevo")
    assert shown["can_push"]


def test_a_phone_brevo_holds_elsewhere_is_withheld_with_its_reason() -> None:
    withheld = synced_row(phone="06 12 34 56 78", m_sms=None, sms_withheld=True)
    shown = customer_row(withheld, phone_region="FR")
    assert shown["differs"] == [] and shown["status"] == "in_sync" and not shown["can_push"]
    assert shown["withheld"] == [{"field": "phone", "reason": SMS_WITHHELD}]
    assert shown["notes"] == [SMS_WITHHELD]
    # Without the push's record of withholding it, the same gap is drift.
    drift = customer_row({**withheld, "sms_withheld": False}, phone_region="FR")
    assert drift["differs"] == ["phone"] and drift["status"] == "differs"
    assert drift["withheld"] == []


def test_shown_status_keeps_every_other_word() -> None:
    for status in (Status("pending", "pending"), Status("error", "error", "x"),
                   Status("in_sync", "in sync")):
        assert shown_status(status, []) == status
    assert shown_status(Status("pending", "pending"), ["phone"]).code == "pending"


def test_last_synced_is_not_shown_for_a_contact_brevo_lost() -> None:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    lost = customer_row({**synced_row(last_synced_at=when), "m_id": None}, phone_region="FR")
    assert lost["status"] == "missing" and lost["last_synced_at"] is None
    kept = customer_row(synced_row(last_synced_at=when), phone_region="FR")
    assert kept["last_synced_at"] == when.isoformat()


def test_last_page_clamps_to_at_least_one() -> None:
    assert [last_page(t, 50) for t in (0, 1, 50, 51, 150)] == [1, 1, 1, 2, 3]


def test_every_customer_sort_is_whitelisted_and_state_sorts_are_known() -> None:
    assert set(SORTS["neon"]) == {"email", "name", "created", "opt_in", "status", "in_brevo",
                                  "last_synced"}
    assert set(SORTS["neon"]) >= STATE_SORTS
    with pytest.raises(ViewError, match="sort must be one of"):
        parse_view_query("neon", {"sort": "sort_status; DROP TABLE customers"})
