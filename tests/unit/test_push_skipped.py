"""A customer already in sync but holding no contact id takes the one its email names."""

from __future__ import annotations

import uuid

from brevo_sync.decide import Nothing
from brevo_sync.push import skipped
from brevo_sync.rows import Customer, KnownContact, QueueItem

ITEM = QueueItem(uuid.uuid4(), 1)


def customer(**fields: object) -> Customer:
    values: dict[str, object] = {"marketing_opt_in": True, **fields}
    return Customer(ITEM.customer_id, "Ada@Example.com", **values)  # type: ignore[arg-type]


def test_a_push_never_recorded_is_adopted_by_email() -> None:
    outcome = skipped(ITEM, customer(), Nothing("in sync"), KnownContact(47, "ada@example.com"))
    assert outcome.contact_id == 47 and outcome.status == "synced"


def test_a_contact_holding_another_email_is_not_adopted() -> None:
    outcome = skipped(ITEM, customer(), Nothing("in sync"), KnownContact(47, "bob@example.com"))
    assert outcome.contact_id is None and outcome.status == "skipped"


def test_an_opted_out_customer_adopts_nothing() -> None:
    outcome = skipped(ITEM, customer(marketing_opt_in=False), Nothing("not opted in"),
                      KnownContact(47, "ada@example.com"))
    assert outcome.contact_id is None and outcome.status == "skipped"


def test_a_stored_id_stays() -> None:
    outcome = skipped(ITEM, customer(brevo_contact_id=9), Nothing("in sync"),
                      KnownContact(47, "ada@example.com"))
    assert outcome.contact_id == 9 and outcome.status == "synced"
