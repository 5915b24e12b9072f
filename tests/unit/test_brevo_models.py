"""Brevo payloads parsed into typed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from brevo_sync.brevo.models import (
    Contact,
    ImportProcess,
    ListResult,
    format_datetime,
    parse_datetime,
)

API_CONTACT = {
    "id": 42,
    "email": "Peggy.Rain@Example.com",
    "emailBlacklisted": False,
    "smsBlacklisted": True,
    "createdAt": "2017-05-02T16:40:31Z",
    "modifiedAt": "2024-03-01T10:00:00.250+02:00",
    "attributes": {"FIRSTNAME": "Peggy", "SMS": "3087433387669"},
    "listIds": [40, "41"],
    "listUnsubscribed": [1],
    "statistics": {},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-05-02T16:40:31Z", datetime(2017, 5, 2, 16, 40, 31, tzinfo=UTC)),
        ("2017-05-02T16:40:31.123Z", datetime(2017, 5, 2, 16, 40, 31, 123_000, tzinfo=UTC)),
        ("2024-03-01T10:00:00.250+02:00", datetime(2024, 3, 1, 8, 0, 0, 250_000, tzinfo=UTC)),
        ("2024-03-01T10:00:00+0200", datetime(2024, 3, 1, 8, 0, 0, tzinfo=UTC)),
        ("2024-03-01T10:00:00", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)),
        (" 2024-03-01 10:00:00Z ", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)),
    ],
)
def test_parse_datetime_is_tolerant_and_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_format_datetime_is_utc_with_milliseconds() -> None:
    paris = timezone(timedelta(hours=2))
    value = datetime(2024, 3, 1, 10, 0, 5, 123_456, tzinfo=paris)
    assert format_datetime(value) == "2024-03-01T08:00:05.123Z"


def test_format_naive_datetime_is_taken_as_utc() -> None:
    assert format_datetime(datetime(2024, 3, 1, 10, 0)) == "2024-03-01T10:00:00.000Z"


def test_contact_from_api() -> None:
    contact = Contact.from_api(API_CONTACT)
    assert contact.id == 42
    assert contact.email == "peggy.rain@example.com"
    assert contact.attributes == {"FIRSTNAME": "Peggy", "SMS": "3087433387669"}
    assert contact.list_ids == [40, 41]
    assert (contact.email_blacklisted, contact.sms_blacklisted) == (False, True)
    assert contact.created_at == datetime(2017, 5, 2, 16, 40, 31, tzinfo=UTC)
    assert contact.modified_at == datetime(2024, 3, 1, 8, 0, 0, 250_000, tzinfo=UTC)


def test_contact_without_email() -> None:
    """Phone-only contacts have no email key."""
    data = {k: v for k, v in API_CONTACT.items() if k != "email"}
    assert Contact.from_api(data).email is None


@pytest.mark.parametrize(
    ("status", "normalised", "finished"),
    [
        ("queued", "queued", False),
        ("in_process", "processing", False),
        ("processing", "processing", False),
        ("completed", "completed", True),
        ("failed", "failed", True),
        ("cancelled", "cancelled", True),
    ],
)
def test_process_status_is_normalised(status: str, normalised: str, finished: bool) -> None:
    process = ImportProcess.from_api(
        {"id": 7, "name": "IMPORTUSER", "status": status, "info": {"import": {}}}
    )
    assert process.status == normalised
    assert process.finished is finished
    assert process.succeeded is (normalised == "completed")


def test_in_process_equals_processing() -> None:
    old = ImportProcess.from_api({"id": 1, "status": "in_process"})
    new = ImportProcess.from_api({"id": 1, "status": "processing"})
    assert old == new


def test_list_results_merge() -> None:
    total = ListResult(success=["a@x.com"])
    total.merge(ListResult(failure=["b@x.com"], unchanged=["c@x.com"]))
    assert total == ListResult(success=["a@x.com"], failure=["b@x.com"], unchanged=["c@x.com"])


def test_the_lists_left_and_the_persons_own_unsubscriptions_are_read() -> None:
    contact = Contact.from_api(API_CONTACT)
    assert contact.list_unsubscribed == [1] and contact.user_unsubscriptions == 0
    detailed = Contact.from_api({**API_CONTACT, "statistics": {"unsubscriptions": {
        "userUnsubscription": [{"campaignId": 3, "eventTime": "2024-03-01T10:00:00Z"}],
        "adminUnsubscription": []}}})
    assert detailed.user_unsubscriptions == 1
    bare = Contact.from_api({k: v for k, v in API_CONTACT.items()
                             if k not in ("listUnsubscribed", "statistics")})
    assert bare.list_unsubscribed == [] and bare.user_unsubscriptions == 0


def test_import_info_is_read_in_both_of_brevos_shapes() -> None:
    """Counts (the stored definition) or CSV report URLs and nulls (the newer one)."""
    counts = ImportProcess.from_api({"id": 1, "status": "completed", "info": {"import": {
        "invalid_emails": 2, "duplicate_email_id": None}}})
    reports = ImportProcess.from_api({"id": 2, "status": "completed", "info": {"import": {
        "invalid_emails": "https://x.invalid/invalid.csv", "duplicate_email_id": None}}})
    assert counts.import_counts == {"invalid_emails": 2}
    assert counts.import_reports == {}
    assert reports.import_counts == {}
    assert reports.import_reports == {"invalid_emails": "https://x.invalid/invalid.csv"}
    assert ImportProcess.from_api({"id": 3, "status": "queued"}).import_counts == {}
    assert ImportProcess.from_api({"id": 4, "status": "completed",
                                   "info": {"import": None}}).import_reports == {}
