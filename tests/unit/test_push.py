"""The pure parts of a push: a customer already in sync but holding no contact id takes the one
its email names; a row that cannot be sent is an error with its reason; retries back off."""

from __future__ import annotations

import uuid

from brevo_sync.decide import Nothing, Reject
from brevo_sync.push import RETRY_BASE_SECONDS, RETRY_CAP_SECONDS, rejected, retry_delay, skipped
from brevo_sync.rows import Customer, MirrorContact, QueueItem

ITEM = QueueItem(uuid.uuid4(), 1)


def customer(**fields: object) -> Customer:
    values: dict[str, object] = {"marketing_opt_in": True, **fields}
    return Customer(ITEM.customer_id, "Ada@Example.com", **values)  # type: ignore[arg-type]


def test_a_push_never_recorded_is_adopted_by_email() -> None:
    outcome = skipped(ITEM, customer(), Nothing("in sync"), MirrorContact(47, "ada@example.com"))
    assert outcome.contact_id == 47 and outcome.status == "synced"


def test_a_contact_holding_another_email_is_not_adopted() -> None:
    outcome = skipped(ITEM, customer(), Nothing("in sync"), MirrorContact(47, "bob@example.com"))
    assert outcome.contact_id is None and outcome.status == "skipped"


def test_an_opted_out_customer_adopts_nothing() -> None:
    outcome = skipped(ITEM, customer(marketing_opt_in=False), Nothing("not opted in"),
                      MirrorContact(47, "ada@example.com"))
    assert outcome.contact_id is None and outcome.status == "skipped"


def test_a_stored_id_stays() -> None:
    outcome = skipped(ITEM, customer(brevo_contact_id=9), Nothing("in sync"),
                      MirrorContact(47, "ada@example.com"))
    assert outcome.contact_id == 9 and outcome.status == "synced"


def test_a_row_that_cannot_be_sent_is_an_error_with_its_reason() -> None:
    outcome = rejected(ITEM, customer(), Reject("email: 'ada' is not a valid email address"))
    assert (outcome.result, outcome.status, outcome.error_code) == ("error", "error",
                                                                   "invalid_row")
    assert outcome.message == "email: 'ada' is not a valid email address"
    assert outcome.action == "reject"


def test_retries_back_off_up_to_the_cap() -> None:
    for attempts in (1, 2, 5, 100):
        ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
        delays = [retry_delay(attempts) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
    assert max(retry_delay(100) for _ in range(200)) > RETRY_BASE_SECONDS * 2
