"""One rule for "Brevo differs from the row" (brevo_sync/differs.py), pinned by one table: the
same cases go to the engine's decision, the sweep's SQL (with the phones it hands to Python)
and the admin page's differences, which must all name the same fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest

from brevo_sync.attributes import DEFAULT_NAMES
from brevo_sync.brevo import Contact
from brevo_sync.db import Pool
from brevo_sync.decide import Nothing, Policy, Update, decide
from brevo_sync.differs import FIELDS
from brevo_sync.drift import ATTRIBUTES, find_drift
from brevo_sync.mirror import upsert_contacts
from brevo_sync.rows import Customer, MirrorContact, QueueItem
from brevo_sync.views import read_one_customer

pytestmark = pytest.mark.anyio

REGION = "FR"


@dataclass(frozen=True)
class Case:
    name: str
    differs: tuple[str, ...]
    # The row (customers) ...
    email: str = "ada@example.com"
    first_name: str | None = "Ada"
    last_name: str | None = "Lovelace"
    phone: str | None = None
    used_welcome_offer: bool = False
    # ... and what Brevo holds (the mirror).
    held_email: str = "ada@example.com"
    held: dict[str, Any] = field(default_factory=lambda: {"FIRSTNAME": "Ada",
                                                          "LASTNAME": "Lovelace"})
    # The sync pushed this very row without its phone (sync_state.sms_withheld_fingerprint).
    withheld: bool = False


def held(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {"FIRSTNAME": "Ada", "LASTNAME": "Lovelace", **changes}.items()
            if v is not None}


CASES = [
    Case("the same", ()),
    Case("another first name", ("first_name",), held=held(FIRSTNAME="Adelaide")),
    Case("no last name on either side", (), last_name=None, held=held(LASTNAME=None)),
    Case("a last name Brevo lacks", ("last_name",), held=held(LASTNAME=None)),
    Case("names are sent trimmed", (), first_name="  Ada "),
    Case("emails match without case", (), email="Ada@Example.COM"),
    Case("an international phone, as Brevo holds it", (), phone="+33 6 12 34 56 78",
         held=held(SMS="33612345678")),
    Case("00 for +", (), phone="0033 6 12 34 56 78", held=held(SMS="33612345678")),
    Case("a national phone, in E.164 at Brevo", (), phone="06 12 34 56 78",
         held=held(SMS="33612345678")),
    Case("a national phone, another number at Brevo", ("phone",), phone="06 12 34 56 78",
         held=held(SMS="33700000000")),
    Case("a national phone whose digits end another country's number", ("phone",),
         phone="06 12 34 56 78", held=held(SMS="44612345678")),
    Case("a phone Brevo lacks", ("phone",), phone="+33 6 12 34 56 78"),
    Case("a phone removed from the row", ("phone",), held=held(SMS="33612345678")),
    Case("a phone Brevo would refuse, none at Brevo", (), phone="12345"),
    Case("a phone Brevo would refuse, another at Brevo", ("phone",), phone="12345",
         held=held(SMS="33612345678")),
    Case("a phone the sync withheld", (), phone="06 12 34 56 78", withheld=True),
    Case("a phone withheld, a name changed", ("first_name",), phone="06 12 34 56 78",
         held=held(FIRSTNAME="Adelaide"), withheld=True),
    Case("a true boolean Brevo left out", ("used_welcome_offer",), used_welcome_offer=True),
    Case("a false boolean Brevo left out", ()),
    Case("a true boolean as text", (), used_welcome_offer=True,
         held=held(USED_WELCOME_OFFER="true")),
    Case("several at once", ("first_name", "phone", "used_welcome_offer"),
         phone="06 12 34 56 78", used_welcome_offer=True, held=held(FIRSTNAME="Adelaide")),
]


def engine_differs(case: Case, customer_id: UUID, contact_id: int) -> tuple[str, ...]:
    """The fields the engine's decision would send."""
    customer = Customer(customer_id, case.email, case.first_name, case.last_name, case.phone,
                        True, case.used_welcome_offer, contact_id)
    known = MirrorContact(contact_id, case.held_email, dict(case.held))
    action = decide(QueueItem(customer_id, 1), customer, known, None,
                    Policy(phone_region=REGION))
    if isinstance(action, Nothing):
        return ()
    assert isinstance(action, Update), action
    by_attribute = {DEFAULT_NAMES.firstname: "first_name", DEFAULT_NAMES.lastname: "last_name",
                    DEFAULT_NAMES.sms: "phone",
                    DEFAULT_NAMES.used_welcome_offer: "used_welcome_offer"}
    sent = {by_attribute[name] for name in action.attributes}
    if action.new_email:
        sent.add("email")
    return tuple(f for f in FIELDS if f in sent)


async def test_the_engine_the_sweep_and_the_page_differ_alike(
        db: psycopg.Connection[Any], pool: Pool) -> None:
    now = datetime.now(UTC)
    ids: dict[str, UUID] = {}
    contacts = []
    for n, case in enumerate(CASES, start=1):
        # One email a case: the page finds the contact by email.
        email = case.email.replace("ada@", f"ada{n}@").replace("Ada@", f"Ada{n}@")
        held_email = case.held_email.replace("ada@", f"ada{n}@")
        row = db.execute(
            "INSERT INTO customers (email, first_name, last_name, phone, marketing_opt_in,"
            " used_welcome_offer, brevo_contact_id) VALUES (%s, %s, %s, %s, true, %s, %s)"
            " RETURNING id, brevo_sync.fingerprint(email, first_name, last_name, phone,"
            " marketing_opt_in, used_welcome_offer) AS fingerprint",
            (email, case.first_name, case.last_name, case.phone, case.used_welcome_offer, n),
        ).fetchone()
        assert row is not None
        ids[case.name] = row["id"]
        db.execute(
            "INSERT INTO brevo_sync.sync_state (customer_id, email, brevo_contact_id, status,"
            " sms_withheld_fingerprint) VALUES (%s, %s, %s, 'synced', %s)",
            (row["id"], email.lower(), n, row["fingerprint"] if case.withheld else None))
        contacts.append(Contact(n, held_email, dict(case.held), [], False, False, now, now))
    db.execute("DELETE FROM brevo_sync.queue")
    await upsert_contacts(pool, contacts)

    drift = await find_drift(pool, Policy(phone_region=REGION))
    async with pool.connection() as conn:
        for n, case in enumerate(CASES, start=1):
            cid = ids[case.name]
            swept = cid in drift.ids.get(ATTRIBUTES, [])
            assert swept == bool(case.differs), f"sweep: {case.name}"
            shown = await read_one_customer(conn, cid, phone_region=REGION)
            assert shown is not None
            page = tuple(f for f in shown["differs"] if f in FIELDS)
            assert page == case.differs, f"page: {case.name}"
            if not case.withheld:
                # The engine pushes a queued row as it is: withholding is the sweep's and the
                # page's business (differs.py).
                assert engine_differs(case, cid, n) == case.differs, f"engine: {case.name}"
    assert set(drift.ids) <= {ATTRIBUTES}, drift.ids
