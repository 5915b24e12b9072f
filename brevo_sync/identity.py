"""Whose contact a stored contact id names: the check before any write by id (pure).

A contact id belongs to one Brevo account. After a database restore, a Neon branch, another
account's key or a restarted emulator, a stored id may name another person's contact, and a
write by that id would overwrite a stranger. So a stored id is used only while the contact it
names holds the customer's current email or one the sync sent for them; otherwise it is
forgotten and the customer is matched by email (reference §14.10).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from brevo_sync.rows import Customer, MirrorContact, QueueItem, SyncState

FORGET_ACTION = "forget_id"    # the history's action for a forgotten contact id


@dataclass(frozen=True)
class Holder:
    """What Brevo holds under a contact id: whether the contact exists, and its email."""

    found: bool
    email: str | None = None


@dataclass(frozen=True)
class Claim:
    """A customer's stored contact ids and the emails that make a contact theirs."""

    customer_id: UUID
    email: str | None               # the current one, for the history
    contact_ids: tuple[int, ...]
    emails: frozenset[str]


def claim_of(item: QueueItem, customer: Customer | None, memory: SyncState | None) -> Claim:
    """The ids stored for a customer (on the row, in sync_state, on a deleted row's queue
    entry) and the emails that may hold them: the current one, the one last sent or about
    to be sent, and the one last recorded."""
    current = customer.email if customer is not None else item.deleted_email
    ids = (customer.brevo_contact_id if customer else None,
           memory.brevo_contact_id if memory else None,
           item.deleted_contact_id)
    emails = (current, memory.pushed_email if memory else None, memory.email if memory else None)
    return Claim(item.customer_id, current, tuple(dict.fromkeys(i for i in ids if i is not None)),
                 frozenset(e.strip().lower() for e in emails if e and e.strip()))


def holder_in_mirror(contact_id: int, known: MirrorContact | None) -> Holder | None:
    """What the mirror says contact `contact_id` holds; None when the mirror does not know."""
    if known is None or known.id != contact_id or not known.email:
        return None
    return Holder(True, known.email)


def stale_reason(contact_id: int, holder: Holder, emails: frozenset[str]) -> str | None:
    """Why the stored `contact_id` must not be used for this customer, or None when the
    contact it names is theirs. The stranger's email is never repeated in the reason."""
    if not holder.found:
        return (f"stored contact id {contact_id} is not in this Brevo account:"
                " forgotten, matched by email")
    email = (holder.email or "").strip().lower()
    if email and email in emails:
        return None
    held = "another person's email" if email else "no email"
    return (f"stored contact id {contact_id} holds {held} in this Brevo account (a restored"
            " or copied database, another account's key, a restarted emulator):"
            " forgotten, matched by email")


def taken_reason(contact_id: int, new_holder: UUID) -> str:
    return (f"contact {contact_id} now holds the email of customer {new_holder}:"
            " forgotten here, matched by email on the next push")
