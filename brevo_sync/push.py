"""Carrying out one customer's action against Brevo, one call (or two) at a time."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from brevo_sync.attributes import DEFAULT_NAMES, AttributeNames
from brevo_sync.brevo import BrevoClient, Contact
from brevo_sync.brevo.errors import (
    BrevoAccountError,
    BrevoDeadlineError,
    BrevoError,
    BrevoNotFoundError,
    BrevoPermanentError,
    is_duplicate_email,
    is_duplicate_sms,
    is_invalid_phone,
)
from brevo_sync.brevo.retry import backoff_delay
from brevo_sync.decide import LIST_UNSUBSCRIBED, Action, Create, Nothing, Reject, Remove, Update
from brevo_sync.outcome import Outcome
from brevo_sync.rows import Customer, MirrorContact, MirrorPatch, QueueItem

T = TypeVar("T")

# A row that keeps failing for passing reasons is retried more and more slowly, never dropped.
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 3600.0


def retry_delay(attempts: int) -> float:
    return backoff_delay(attempts, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)


def skipped(item: QueueItem, customer: Customer | None, action: Nothing,
            known: MirrorContact | None = None) -> Outcome:
    contact_id = customer.brevo_contact_id if customer else None
    if contact_id is None and customer is not None and customer.marketing_opt_in \
            and known is not None and _same_email(known.email, customer.email):
        # Already in sync without a stored id (a push that reached Brevo but was never
        # recorded, an id forgotten as another account's): the contact its email names is its.
        contact_id = known.id
    # Not "synced" for an opted-out customer: that status would wipe sync_state's memory that
    # the sync itself blocklisted the contact, and an opt-in would then never unblock it.
    synced = customer is not None and customer.marketing_opt_in and contact_id is not None
    return Outcome(item, customer, action.name, "skipped", message=action.reason,
                   contact_id=contact_id, status="synced" if synced else "skipped",
                   sms_withheld=action.sms_withheld and synced)


def _same_email(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def rejected(item: QueueItem, customer: Customer | None, action: Reject) -> Outcome:
    return Outcome(item, customer, action.name, "error", message=action.reason,
                   error_code="invalid_row", status="error")


async def push(client: BrevoClient, item: QueueItem, customer: Customer | None,
               action: Action, known: MirrorContact | None, *,
               names: AttributeNames = DEFAULT_NAMES) -> Outcome:
    started = time.perf_counter()
    outcome = await _attempt(client, item, customer, action, known, names)
    outcome.ms = (time.perf_counter() - started) * 1000
    return outcome


async def _attempt(client: BrevoClient, item: QueueItem, customer: Customer | None,
                   action: Action, known: MirrorContact | None,
                   names: AttributeNames) -> Outcome:
    if isinstance(action, Nothing):
        return skipped(item, customer, action, known)
    if isinstance(action, Reject):
        return rejected(item, customer, action)
    try:
        if isinstance(action, Create | Update):
            action, held = await _respect_brevo_choices(client, action, known)
            outcome = await (_create(client, item, customer, action, names)
                             if isinstance(action, Create)
                             else _update(client, item, customer, action, known, names))
            return _with_brevo_choices(outcome, held, action)
        return await _remove(client, item, customer, action, known)
    except BrevoAccountError:
        raise  # the account's failure, not this row's: the engine pauses
    except BrevoPermanentError as exc:
        return Outcome(item, customer, action.name, "error", message=exc.message,
                       error_code=exc.code or str(exc.status), status="error")
    except BrevoDeadlineError:
        raise  # not the row's failure: the caller's time is up (see Engine._push_each)
    except BrevoError as exc:
        return Outcome(item, customer, action.name, "retry", message=str(exc),
                       retry_delay=retry_delay(item.attempts), status="pending")


async def _create(client: BrevoClient, item: QueueItem, customer: Customer | None,
                  action: Create, names: AttributeNames) -> Outcome:
    if action.previous_email:
        earlier = await client.get_contact_by_email(action.previous_email)
        if earlier is not None:
            # An unrecorded earlier push created it under the old email: rename, not duplicate.
            rename = Update(earlier.id, action.email, new_email=action.email,
                            attributes=action.attributes, list_ids=action.list_ids,
                            unblock=action.unblock, note=action.note,
                            sms_withheld=action.sms_withheld)
            return await _update(client, item, customer, rename, None, names)

    if action.list_ids and not action.unblock:
        # Create only: a new contact cannot have left the list, so it joins it in one call.
        # An email Brevo already holds (the mirror did not know it) is asked about first.
        try:
            return await _sent(client, item, customer, action, names, only_new=True)
        except BrevoPermanentError as exc:
            if not is_duplicate_email(exc):
                raise
        chosen, contact = await _respect_brevo_choices(client, action, None, ask=True)
        assert isinstance(chosen, Create)
        outcome = await _sent(client, item, customer, chosen, names, only_new=False)
        return _with_brevo_choices(outcome, contact, chosen)
    return await _sent(client, item, customer, action, names, only_new=False)


async def _sent(client: BrevoClient, item: QueueItem, customer: Customer | None,
                action: Create, names: AttributeNames, *, only_new: bool) -> Outcome:
    """Send a Create: as a create only (`only_new`: an existing email is a 400), or as an
    upsert."""

    async def send(attrs: dict[str, Any]) -> int:
        if only_new:
            return await client.create_contact(action.email, attrs,
                                               list_ids=list(action.list_ids))
        return await client.upsert_contact(action.email, attrs, list_ids=list(action.list_ids),
                                           email_blacklisted=False if action.unblock else None)

    contact_id, attributes, note = await _without_sms_on_error(action.attributes, send,
                                                               names.sms)
    mirror = MirrorPatch(contact_id, action.email, attributes, action.list_ids, False)
    return Outcome(item, customer, action.name, "ok", contact_id=contact_id,
                   message=_join(action.note, note), mirror=mirror,
                   sms_withheld=note is not None or action.sms_withheld)


async def _update(client: BrevoClient, item: QueueItem, customer: Customer | None,
                  action: Update, known: MirrorContact | None,
                  names: AttributeNames) -> Outcome:
    async def send(attrs: dict[str, Any]) -> None:
        await client.update_contact(
            action.contact_id,
            attributes=attrs or None,
            email=action.new_email,
            list_ids=list(action.list_ids) or None,
            email_blacklisted=False if action.unblock else None,
        )

    try:
        _, attributes, note = await _without_sms_on_error(action.attributes, send, names.sms)
    except BrevoNotFoundError:
        if action.recreate is None:
            raise
        # Deleted in Brevo since we last saw it: create it again, with a new id.
        outcome = await _create(client, item, customer, action.recreate, names)
        outcome.forget_contact = action.contact_id
        outcome.message = "contact was gone from Brevo; created again"
        return outcome
    held = dict(known.attributes) if known else {}
    held.update(attributes)
    lists = tuple(sorted(set(known.list_ids if known else ()) | set(action.list_ids)))
    blacklisted = bool(known and known.email_blacklisted and not action.unblock)
    mirror = MirrorPatch(action.contact_id, action.email, held, lists, blacklisted)
    return Outcome(item, customer, action.name, "ok", contact_id=action.contact_id,
                   message=_join(action.note, note), mirror=mirror,
                   sms_withheld=note is not None or action.sms_withheld)


async def _without_sms_on_error(
    attributes: dict[str, Any], send: Callable[[dict[str, Any]], Awaitable[T]], sms: str
) -> tuple[T, dict[str, Any], str | None]:
    """Send; if Brevo refuses the SMS number (another contact's, or one it cannot read),
    send again without it: the rest of the contact still reaches Brevo.

    Returns the call's result, the attributes that reached Brevo, and a note for the history
    when the number was left out.
    """
    try:
        return await send(attributes), attributes, None
    except BrevoPermanentError as exc:
        if not (is_duplicate_sms(exc) or is_invalid_phone(exc)) or not attributes.get(sms):
            raise
        rest = {k: v for k, v in attributes.items() if k != sms}
        return await send(rest), rest, f"pushed without SMS: {exc.message}"


def _join(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None


async def _respect_brevo_choices(client: BrevoClient, action: Create | Update,
                                 known: MirrorContact | None, *, ask: bool = False
                                 ) -> tuple[Create | Update, Contact | None]:
    """What the person chose in Brevo wins over the push (§14.5): a list they left is not
    added back, and a blocklist that is their own unsubscription is not lifted. The mirror
    may not know the contact, or not have the statistics: Brevo is asked when it matters
    (a Create that joins a list asks only when the email turns out to exist, see _create).
    Returns the action to send, and the contact when one was read."""
    unknown = isinstance(action, Update) and (known is None or known.id != action.contact_id)
    if not (ask or action.unblock or (action.list_ids and unknown)):
        return action, None
    contact = await (client.get_contact_by_id(action.contact_id) if isinstance(action, Update)
                     else client.get_contact_by_email(action.email))
    if contact is None:
        return action, None
    changes: dict[str, Any] = {}
    if set(action.list_ids) & set(contact.list_unsubscribed):
        left = tuple(i for i in action.list_ids if i not in contact.list_unsubscribed)
        changes.update(list_ids=left, note=_join(action.note, LIST_UNSUBSCRIBED))
    if action.unblock and contact.email_blacklisted and contact.user_unsubscriptions:
        changes.update(unblock=False, note=_join(changes.get("note", action.note), KEPT_BLOCKED))
    return (dataclasses.replace(action, **changes) if changes else action), contact


KEPT_BLOCKED = ("unsubscribed in Brevo themselves (Brevo records the person's own"
                " unsubscription): kept blocklisted, never lifted by the sync")


def _with_brevo_choices(outcome: Outcome, contact: Contact | None,
                        action: Create | Update) -> Outcome:
    """The mirror row learns what Brevo said of the person's choices (the lists they left,
    a blocklist kept), so that the sweep can bring an unsubscription back into the table."""
    if contact is None or outcome.mirror is None or outcome.result != "ok":
        return outcome
    outcome.mirror = dataclasses.replace(
        outcome.mirror, list_unsubscribed=tuple(contact.list_unsubscribed),
        email_blacklisted=contact.email_blacklisted and not action.unblock)
    return outcome


async def _remove(client: BrevoClient, item: QueueItem, customer: Customer | None,
                  action: Remove, known: MirrorContact | None) -> Outcome:
    contact_id = action.contact_id
    if contact_id is None and action.email:
        found = await client.get_contact_by_email(action.email)
        contact_id = found.id if found else None
    done = Outcome(item, customer, action.name, "ok", contact_id=contact_id, status="removed",
                   removed_by_sync=action.how, message=f"{action.why}: {action.how}")
    if contact_id is None:
        done.message = f"{action.why}: contact not in Brevo"
        return done
    try:
        if action.how == "blocklist":
            await client.update_contact(contact_id, email_blacklisted=True)
        elif action.how == "unlist" and action.list_id is not None:
            await client.remove_from_list(action.list_id, ids=[contact_id])
        elif action.how == "delete":
            await client.delete_contact(contact_id)
    except BrevoNotFoundError:
        done.message = f"{action.why}: contact already gone from Brevo"
        done.forget_contact = contact_id
        return done
    if action.how == "delete":
        done.forget_contact = contact_id
    elif known is not None:
        lists = known.list_ids - {action.list_id} if action.how == "unlist" else known.list_ids
        done.mirror = MirrorPatch(contact_id, known.email, dict(known.attributes),
                                tuple(sorted(lists)),
                                known.email_blacklisted or action.how == "blocklist")
    return done
