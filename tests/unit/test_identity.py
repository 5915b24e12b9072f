"""Whether a stored contact id may be used for a write by id (identity.py, pure)."""

from __future__ import annotations

import uuid

from brevo_sync.brevo import Contact
from brevo_sync.identity import Claim, Holder, claim_of, holder_in_mirror, stale_reason
from brevo_sync.mirror import Mirrored, account_mark, holds_oldest
from brevo_sync.rows import Customer, MirrorContact, QueueItem, SyncState

CID = uuid.uuid4()


def claim(email: str | None = "Ada@Example.com", contact_id: int | None = 7,
          memory: SyncState | None = None, deleted: bool = False) -> Claim:
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
    memory = SyncState(email="old@example.com", brevo_contact_id=7,
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
    memory = SyncState(email="ada@example.com", brevo_contact_id=9)
    assert claim(contact_id=7, memory=memory).contact_ids == (7, 9)
    assert claim(contact_id=9, memory=memory).contact_ids == (9,)
    assert claim(contact_id=None).contact_ids == ()


def test_a_deleted_customer_claims_by_the_email_it_had() -> None:
    deleted = claim("Gone@Example.com", contact_id=5, deleted=True)
    assert deleted.contact_ids == (5,) and deleted.emails == {"gone@example.com"}
    assert stale_reason(5, Holder(True, "gone@example.com"), deleted.emails) is None


def test_the_mirror_knows_a_contact_only_by_its_id_and_with_an_email() -> None:
    assert holder_in_mirror(7, MirrorContact(7, "ada@example.com")) == \
        Holder(True, "ada@example.com")
    assert holder_in_mirror(7, MirrorContact(8, "ada@example.com")) is None, "matched by email"
    assert holder_in_mirror(7, MirrorContact(7, None)) is None
    assert holder_in_mirror(7, None) is None


def listed(contact_id: int, email: str, created: str) -> Contact:
    return Contact.from_api({"id": contact_id, "email": email, "attributes": {}, "listIds": [],
                             "emailBlacklisted": False, "smsBlacklisted": False,
                             "createdAt": created, "modifiedAt": "2026-01-01T00:00:00Z"})


def test_an_account_is_marked_by_its_oldest_contact() -> None:
    """Id and creation time never change for a contact, and another account does not share
    both: the mirror's account is told apart without a call beyond the count it makes."""
    oldest = listed(1, "a@example.com", "2025-06-01T09:00:00.000+02:00")
    renamed = listed(1, "b@example.com", "2025-06-01T07:00:00Z")
    assert account_mark(oldest) == account_mark(renamed) == "1@2025-06-01T07:00:00+00:00"
    assert account_mark(None) == "empty"


def test_a_mirror_holding_the_oldest_contact_as_it_is_is_this_accounts() -> None:
    """When the mark changed (the account was empty, its oldest contact deleted), the mirror
    is kept only if it holds the new oldest contact with its email and creation time."""
    oldest = listed(2, "bo@example.com", "2025-06-01T07:00:00Z")
    assert holds_oldest(oldest, Mirrored("Bo@Example.com", oldest.created_at))
    assert holds_oldest(oldest, Mirrored("bo@example.com", None)), "known from a push"
    assert not holds_oldest(oldest, Mirrored("dora@example.com", None)), "another person"
    assert not holds_oldest(oldest, Mirrored("bo@example.com",
                                             listed(2, "x@y.z", "2024-01-01T00:00:00Z")
                                             .created_at)), "another account's Bo"
    assert not holds_oldest(oldest, Mirrored(None, None))
    assert not holds_oldest(oldest, None) and not holds_oldest(None, None)
