"""What one customer needs in Brevo: a pure decision, per DESIGN.md's table.

No I/O here: the engine gathers the customer's row, what the mirror knows of the contact and
what the sync did last, and this module answers with one action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from brevo_sync.attributes import DEFAULT_NAMES, AttributeNames
from brevo_sync.config import RemovalAction
from brevo_sync.differs import held_bool, same_sms
from brevo_sync.normalize import (
    InvalidField,
    normalize_email,
    normalize_name,
    normalize_phone,
    phone_problem,
)
from brevo_sync.rows import Customer, MirrorContact, QueueItem, SyncState


@dataclass(frozen=True)
class Policy:
    list_id: int | None = None
    opt_out_action: RemovalAction = "blocklist"
    delete_action: RemovalAction = "unlist"
    phone_region: str | None = None
    attributes: AttributeNames = DEFAULT_NAMES


@dataclass(frozen=True)
class Create:
    email: str
    attributes: dict[str, Any]
    list_ids: tuple[int, ...] = ()
    # An earlier push under another email may have created the contact without being
    # recorded: if Brevo holds that email, the contact is renamed instead of duplicated.
    previous_email: str | None = None
    unblock: bool = False
    note: str | None = None
    # The customer's phone is left out (Brevo would refuse it): not drift until the row changes.
    sms_withheld: bool = False
    name: str = "create"


@dataclass(frozen=True)
class Update:
    contact_id: int
    email: str
    new_email: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    list_ids: tuple[int, ...] = ()
    unblock: bool = False
    # When the mirror did not know the contact, a vanished contact is created again.
    recreate: Create | None = None
    note: str | None = None
    sms_withheld: bool = False
    name: str = "update"


@dataclass(frozen=True)
class Remove:
    contact_id: int | None
    email: str | None
    how: RemovalAction
    list_id: int | None
    why: str
    name: str = "remove"


@dataclass(frozen=True)
class Nothing:
    reason: str
    sms_withheld: bool = False
    name: str = "none"


@dataclass(frozen=True)
class Reject:
    """The row cannot be sent as it is; recorded as an error until the row changes."""

    reason: str
    name: str = "reject"


Action = Create | Update | Remove | Nothing | Reject


def decide(
    item: QueueItem,
    customer: Customer | None,
    known: MirrorContact | None,
    memory: SyncState | None,
    policy: Policy,
    *,
    shares_email_with: UUID | None = None,
) -> Action:
    if customer is None:
        return _deleted(item, known, memory, policy)
    if not customer.marketing_opt_in:
        return _opted_out(customer, known, memory, policy)
    if shares_email_with is not None:
        return Reject(
            f"email is also used by customer {shares_email_with} (emails match without regard"
            " to case); only that customer is synced"
        )
    try:
        email = normalize_email(customer.email)
        attributes = desired_attributes(customer, policy.phone_region, policy.attributes)
    except InvalidField as exc:
        return Reject(str(exc))
    return _opted_in(customer, email, attributes, known, memory, policy)


def desired_attributes(customer: Customer, phone_region: str | None,
                       names: AttributeNames = DEFAULT_NAMES) -> dict[str, Any]:
    """What Brevo should hold, under the account's attribute names. A phone Brevo would
    refuse is left out (see normalize.phone_problem), so the rest still reaches Brevo."""
    attributes: dict[str, Any] = {
        names.firstname: normalize_name("first_name", customer.first_name),
        names.lastname: normalize_name("last_name", customer.last_name),
        names.used_welcome_offer: bool(customer.used_welcome_offer),
    }
    sms = normalize_phone(customer.phone, phone_region)
    if sms is not None:
        attributes[names.sms] = sms
    return attributes


def attribute_changes(desired: dict[str, Any], current: dict[str, Any],
                      names: AttributeNames = DEFAULT_NAMES) -> dict[str, Any]:
    """The attributes to send so that Brevo holds `desired`; a phone removed is cleared."""
    changes = {k: v for k, v in desired.items() if not _same(k, v, current.get(k), names)}
    if names.sms not in desired and current.get(names.sms):
        changes[names.sms] = ""
    return changes


def _same(name: str, wanted: Any, held: Any, names: AttributeNames) -> bool:
    """brevo_sync.differs' rule, attribute by attribute."""
    if name == names.sms:
        return same_sms(wanted, held)
    if isinstance(wanted, bool):
        # Brevo may leave a false (or never set) boolean out: missing equals false.
        return wanted == held_bool(held)
    if isinstance(wanted, str):
        return wanted == (held or "")
    return bool(wanted == held)


def _opted_in(
    customer: Customer,
    email: str,
    attributes: dict[str, Any],
    known: MirrorContact | None,
    memory: SyncState | None,
    policy: Policy,
) -> Action:
    lists = (policy.list_id,) if policy.list_id else ()
    notes = []
    if known is not None and policy.list_id in known.list_unsubscribed:
        # Adding them back would re-subscribe someone who left the list (§14.5).
        lists = ()
        notes.append(LIST_UNSUBSCRIBED)
    phone_note = phone_problem(customer.phone, policy.phone_region)
    if phone_note:
        notes.append(phone_note)
    withheld = phone_note is not None
    create = Create(email, attributes, lists, note=_join(notes), sms_withheld=withheld)
    contact_id = customer.brevo_contact_id or (known.id if known else None)
    ours = memory is not None and memory.removed_by_sync == "blocklist"
    if contact_id is None:
        pushed = memory.pushed_email if memory else None
        previous = pushed if pushed and pushed != email else None
        return Create(email, attributes, lists, previous_email=previous, unblock=ours,
                      note=_join(notes), sms_withheld=withheld)
    if known is None or known.id != contact_id:
        # The mirror has not seen this contact: send everything, by id, so an email change
        # renames the contact instead of creating a second one.
        return Update(contact_id, email, new_email=email, attributes=attributes,
                      list_ids=lists, unblock=ours, recreate=create, note=_join(notes),
                      sms_withheld=withheld)
    # The sync's own blocklist is lifted, even when the mirror has not seen it yet (the
    # blocklist call may have gone through unrecorded); a successful push forgets it.
    unblock = ours
    if known.email_blacklisted and not ours:
        notes.insert(0, "unsubscribed in Brevo: kept blocklisted, never re-subscribed by the sync")
    note = _join(notes)
    new_email = email if (known.email or "").lower() != email else None
    changes = attribute_changes(attributes, known.attributes, policy.attributes)
    add_lists = tuple(i for i in lists if i not in known.list_ids)
    if not (new_email or changes or add_lists or unblock):
        return Nothing(note or "in sync", sms_withheld=withheld)
    return Update(contact_id, email, new_email=new_email, attributes=changes,
                  list_ids=add_lists, unblock=unblock, recreate=create, note=note,
                  sms_withheld=withheld)


LIST_UNSUBSCRIBED = "unsubscribed from the list in Brevo: not added back by the sync"


def _join(notes: list[str]) -> str | None:
    return "; ".join(notes) or None


def _opted_out(
    customer: Customer,
    known: MirrorContact | None,
    memory: SyncState | None,
    policy: Policy,
) -> Action:
    was_synced = customer.brevo_contact_id is not None or (
        memory is not None and (memory.brevo_contact_id is not None or bool(memory.pushed_email))
    )
    if not was_synced:
        return Nothing("not opted in")
    contact_id = customer.brevo_contact_id or (memory.brevo_contact_id if memory else None)
    email = known.email if known else _pushed_email(memory) or customer.email
    return _removal(contact_id, email, known, memory, policy.opt_out_action, policy,
                    "opted out of marketing")


def _deleted(
    item: QueueItem,
    known: MirrorContact | None,
    memory: SyncState | None,
    policy: Policy,
) -> Action:
    contact_id = item.deleted_contact_id or (memory.brevo_contact_id if memory else None)
    if contact_id is None and known is None and not _pushed_email(memory):
        return Nothing("deleted; was never in Brevo")
    email = _pushed_email(memory) or item.deleted_email
    return _removal(contact_id or (known.id if known else None), email, known, memory,
                    policy.delete_action, policy, "deleted in the database")


def _pushed_email(memory: SyncState | None) -> str | None:
    if memory is None:
        return None
    return memory.pushed_email or (memory.email if memory.brevo_contact_id else None)


def _removal(
    contact_id: int | None,
    email: str | None,
    known: MirrorContact | None,
    memory: SyncState | None,
    how: RemovalAction,
    policy: Policy,
    why: str,
) -> Action:
    if how == "unlist" and policy.list_id is None:
        # Without a list to leave, the contact would go on receiving campaigns.
        how = "blocklist"
    if how == "none":
        return Nothing(f"{why}; removal is turned off")
    if memory is not None and memory.removed_by_sync == how and memory.status == "removed":
        return Nothing(f"{why}; already done ({how})")
    if known is not None:
        if how == "blocklist" and known.email_blacklisted:
            return Nothing(f"{why}; already blocklisted")
        if how == "unlist" and policy.list_id not in known.list_ids:
            return Nothing(f"{why}; not in the list")
    return Remove(contact_id, email, how, policy.list_id, why)
