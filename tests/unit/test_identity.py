"""Whether a stored contact id may be used for a write by id (identity.py, pure)."""

from __future__ import annotations

import uuid

from brevo_sync.identity import Claim, Holder, claim_of, holder_in_mirror, stale_reason
from brevo_sync.model import Customer, KnownContact, QueueItem, SyncMemory

CID = uuid.uuid4()


def claim(email: str | None = "Ada@Example.com", contact_id: int | None = 7,
          memory: SyncMemory | None = None, deleted: bool = False) -> Claim:
    if deleted:
        item = QueueItem(CID, 1, deleted=True, deleted_email=email, deleted_contact_id=contact_id)
        return claim_of(item, None, memory)
    return claim_of(QueueItem(CID, 1), Customer(CID, email, brevo_contact_id=contact_id), memory)


def test_a_contact_holding_the_current_email_is_the_customers() -> None:
    assert stale_reason(7, Holder(True, "ada@example.com"), claim().emails) is None


def test_emails_match_without_regard_to_case_or_spaces() -> None:
    assert stale_reason(7, Holder(True, " ADA@example.COM"), claim().emails) is None


def test_a_contact_holding_the_last_pushed_email_is_the_customers() -> None:
    """The customer changed email since the last push: the rename goes by id."""
    memory = SyncMemory(email="old@example.com", brevo_contact_id=7,
                        pushed_email="older@example.com")
    emails = claim("new@example.com", memory=memory).emails
    assert stale_reason(7, Holder(True, "older@example.com"), emails) is None
    assert stale_reason(7, Holder(True, "old@example.com"), emails) is None


def test_a_contact_holding_another_persons_email_is_not() -> None:
    reason = stale_reason(7, Holder(True, "dora@example.com"), claim().emails)
    assert reason is not None and "another person's email" in reason
    assert "dora" not in reason, "a stranger's email is never written into our history"


def test_a_contact_without_an_email_is_not() -> None:
    reason = stale_reason(7, Holder(True, None), claim().emails)
    assert reason is not None and "no email" in reason


def test_a_contact_missing_from_the_account_is_not() -> None:
    reason = stale_reason(7, Holder(False), claim().emails)
    assert reason is not None and "not in this Brevo account" in reason


def test_a_customer_without_any_email_owns_no_contact() -> None:
    assert stale_reason(7, Holder(True, "ada@example.com"), claim(None).emails) is not None


def test_a_claim_gathers_every_stored_id_once() -> None:
    memory = SyncMemory(email="ada@example.com", brevo_contact_id=9)
    assert claim(contact_id=7, memory=memory).contact_ids == (7, 9)
    assert claim(contact_id=9, memory=memory).contact_ids == (9,)
    assert claim(contact_id=None).contact_ids == ()


def test_a_deleted_customer_claims_by_the_email_it_had() -> None:
    deleted = claim("Gone@Example.com", contact_id=5, deleted=True)
    assert deleted.contact_ids == (5,) and deleted.emails == {"gone@example.com"}
    assert stale_reason(5, Holder(True, "gone@example.com"), deleted.emails) is None


def test_the_mirror_knows_a_contact_only_by_its_id_and_with_an_email() -> None:
    assert holder_in_mirror(7, KnownContact(7, "ada@example.com")) == \
        Holder(True, "ada@example.com")
    assert holder_in_mirror(7, KnownContact(8, "ada@example.com")) is None, "matched by email"
    assert holder_in_mirror(7, KnownContact(7, None)) is None
    assert holder_in_mirror(7, None) is None
