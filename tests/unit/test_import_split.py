"""Which rows of a backlog may go into a bulk import: a pure decision (engine.py)."""

from __future__ import annotations

import uuid

from brevo_sync.attributes import AttributeNames
from brevo_sync.decide import Policy, decide
from brevo_sync.engine import Prepared, _split_for_import
from brevo_sync.rows import Customer, MirrorContact, QueueItem

NAMES = AttributeNames()
POLICY = Policy(list_id=2)
HELD = {"FIRSTNAME": "Old", "LASTNAME": "", "USED_WELCOME_OFFER": False}


def prepared(known: dict[str, object] | None = None, **fields: object) -> Prepared:
    """A decided row; `known` (fields of the contact the mirror holds under the customer's
    email, id 7) makes it an update."""
    cid = uuid.uuid4()
    values: dict[str, object] = {"email": f"{cid.hex[:8]}@example.com", "first_name": "Ada",
                                 "marketing_opt_in": True}
    values.update(fields)
    contact = None
    if known is not None:
        values["brevo_contact_id"] = 7
        contact = MirrorContact(7, str(values["email"]), **{  # type: ignore[arg-type]
            "attributes": HELD, "list_ids": frozenset({2}), **known})
    customer = Customer(cid, **values)  # type: ignore[arg-type]
    item = QueueItem(cid, 1)
    return Prepared(item, customer, contact, decide(item, customer, contact, None, POLICY))


def split(*rows: Prepared) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    imported, rest = _split_for_import(list(rows), set(), NAMES)
    return [r.item.customer_id for r in imported], [p.item.customer_id for p in rest]


def test_new_customers_and_plain_updates_are_imported() -> None:
    new = prepared()
    updated = prepared({})
    assert split(new, updated) == ([new.item.customer_id, updated.item.customer_id], [])


def test_whoever_left_the_list_is_not_imported_into_it() -> None:
    left = prepared({"list_ids": frozenset(), "list_unsubscribed": frozenset({2})})
    assert split(left) == ([], [left.item.customer_id])


def test_a_false_over_a_true_brevo_holds_goes_one_by_one() -> None:
    held_true = {**HELD, "USED_WELCOME_OFFER": True}
    cleared = prepared({"attributes": held_true})
    kept = prepared({"attributes": held_true}, used_welcome_offer=True)
    assert split(cleared, kept) == ([kept.item.customer_id], [cleared.item.customer_id])


def test_a_phone_left_out_still_imports_the_customer_with_the_note() -> None:
    refused = prepared(phone="+1 555 0100")
    imported, _ = _split_for_import([refused], set(), NAMES)
    assert [r.sms_withheld for r in imported] == [True]
    assert imported[0].note is not None and "left out" in imported[0].note
    assert "SMS" not in imported[0].attributes
