"""Carrying out one customer's action against Brevo, one call (or two) at a time."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from brevo_sync.brevo import BrevoClient
from brevo_sync.brevo.errors import (
    BrevoDeadlineError,
    BrevoError,
    BrevoNotFoundError,
    BrevoPermanentError,
    is_duplicate_sms,
)
from brevo_sync.brevo.retry import backoff_delay
from brevo_sync.decide import Action, Create, Nothing, Reject, Remove, Update
from brevo_sync.model import Customer, KnownContact, QueueItem
from brevo_sync.outcome import MirrorRow, Outcome

T = TypeVar("T")

# A row that keeps failing for passing reasons is retried more and more slowly, never dropped.
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 3600.0


def retry_delay(attempts: int) -> float:
    return backoff_delay(attempts, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)


def skipped(item: QueueItem, customer: Customer | None, action: Nothing) -> Outcome:
    # Not "synced" for an opted-out customer: that status would wipe sync_state's memory that
    # the sync itself blocklisted the contact, and an opt-in would then never unblock it.
    synced = customer is not None and customer.marketing_opt_in \
        and customer.brevo_contact_id is not None
    return Outcome(item, customer, action.name, "skipped", message=action.reason,
                   contact_id=customer.brevo_contact_id if customer else None,
                   status="synced" if synced else "skipped")


def rejected(item: QueueItem, customer: Customer | None, action: Reject) -> Outcome:
    return Outcome(item, customer, action.name, "error", message=action.reason,
                   error_code="invalid_row", status="error")


async def push(client: BrevoClient, item: QueueItem, customer: Customer | None,
               action: Action, known: KnownContact | None) -> Outcome:
    started = time.perf_counter()
    outcome = await _attempt(client, item, customer, action, known)
    outcome.ms = (time.perf_counter() - started) * 1000
    return outcome


async def _attempt(client: BrevoClient, item: QueueItem, customer: Customer | None,
                   action: Action, known: KnownContact | None) -> Outcome:
    if isinstance(action, Nothing):
        return skipped(item, customer, action)
    if isinstance(action, Reject):
        return rejected(item, customer, action)
    try:
        if isinstance(action, Create):
            return await _create(client, item, customer, action)
        if isinstance(action, Update):
            return await _update(client, item, customer, action, known)
        return await _remove(client, item, customer, action, known)
    except BrevoPermanentError as exc:
        return Outcome(item, customer, action.name, "error", message=exc.message,
                       error_code=exc.code or str(exc.status), status="error")
    except BrevoDeadlineError:
        raise  # not the row's failure: the caller's time is up (see Engine._push_each)
    except BrevoError as exc:
        return Outcome(item, customer, action.name, "retry", message=str(exc),
                       retry_delay=retry_delay(item.attempts), status="pending")


async def _create(client: BrevoClient, item: QueueItem, customer: Customer | None,
                  action: Create) -> Outcome:
    if action.previous_email:
        earlier = await client.get_contact_by_email(action.previous_email)
        if earlier is not None:
            # An unrecorded earlier push created it under the old email: rename, not duplicate.
            rename = Update(earlier.id, action.email, new_email=action.email,
                            attributes=action.attributes, list_ids=action.list_ids,
                            unblock=action.unblock)
            return await _update(client, item, customer, rename, None)

    async def send(attrs: dict[str, Any]) -> int:
        return await client.upsert_contact(action.email, attrs, list_ids=list(action.list_ids),
                                           email_blacklisted=False if action.unblock else None)

    contact_id, attributes, note = await _without_sms_on_conflict(action.attributes, send)
    mirror = MirrorRow(contact_id, action.email, attributes, action.list_ids, False)
    return Outcome(item, customer, action.name, "ok", contact_id=contact_id, message=note,
                   mirror=mirror, sms_withheld=note is not None)


async def _update(client: BrevoClient, item: QueueItem, customer: Customer | None,
                  action: Update, known: KnownContact | None) -> Outcome:
    async def send(attrs: dict[str, Any]) -> None:
        await client.update_contact(
            action.contact_id,
            attributes=attrs or None,
            email=action.new_email,
            list_ids=list(action.list_ids) or None,
            email_blacklisted=False if action.unblock else None,
        )

    try:
        _, attributes, note = await _without_sms_on_conflict(action.attributes, send)
    except BrevoNotFoundError:
        if action.recreate is None:
            raise
        # Deleted in Brevo since we last saw it: create it again, with a new id.
        outcome = await _create(client, item, customer, action.recreate)
        outcome.forget_contact = action.contact_id
        outcome.message = "contact was gone from Brevo; created again"
        return outcome
    held = dict(known.attributes) if known else {}
    held.update(attributes)
    lists = tuple(sorted(set(known.list_ids if known else ()) | set(action.list_ids)))
    blacklisted = bool(known and known.email_blacklisted and not action.unblock)
    mirror = MirrorRow(action.contact_id, action.email, held, lists, blacklisted)
    return Outcome(item, customer, action.name, "ok", contact_id=action.contact_id,
                   message=note or action.note, mirror=mirror,
                   sms_withheld=note is not None)


async def _without_sms_on_conflict(
    attributes: dict[str, Any], send: Callable[[dict[str, Any]], Awaitable[T]]
) -> tuple[T, dict[str, Any], str | None]:
    """Send; if Brevo says the SMS number belongs to another contact, send again without it.

    Returns the call's result, the attributes that reached Brevo, and a note for the history
    when the number was left out.
    """
    try:
        return await send(attributes), attributes, None
    except BrevoPermanentError as exc:
        if not is_duplicate_sms(exc) or "SMS" not in attributes:
            raise
        rest = {k: v for k, v in attributes.items() if k != "SMS"}
        return await send(rest), rest, f"pushed without SMS: {exc.message}"


async def _remove(client: BrevoClient, item: QueueItem, customer: Customer | None,
                  action: Remove, known: KnownContact | None) -> Outcome:
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
        done.mirror = MirrorRow(contact_id, known.email, dict(known.attributes),
                                tuple(sorted(lists)),
                                known.email_blacklisted or action.how == "blocklist")
    return done
