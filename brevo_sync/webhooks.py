"""Brevo -> Neon in seconds: a delivery of Brevo's marketing webhooks applied to the database.

One delivery is one short transaction, whatever its size: its events are claimed by their
key (a repeated delivery finds them taken and changes nothing), the emails' state and
customers are read and locked, each event is decided in the order of its own timestamp
(brevo_sync/webhook_events.py), and the effects are written set-wise. Opt-outs take the
sweep's own path (reconcile.sql `reflect_unsubscribes`, history source `webhook`), so the
customer is queued and pushed like any opt-out and never re-subscribed by the sync.

Nothing here calls Brevo: a contact updated there is marked for the mirror to read again
(`refresh_wanted_at`), which `refresh_contacts` does once the delivery has been answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from structlog.contextvars import bound_contextvars

from brevo_sync.attributes import DEFAULT_NAMES, AttributeNames
from brevo_sync.brevo import BrevoClient, BrevoError
from brevo_sync.db import Conn, Pool, q
from brevo_sync.mirror import upsert_contacts
from brevo_sync.webhook_events import (
    APPLIED,
    FORGET,
    HARD_BOUNCE,
    NOTE_BOUNCE,
    OPT_OUT,
    REFRESH,
    Customer,
    Decision,
    Event,
    Known,
    decide,
    emails_of,
)

log = structlog.get_logger("brevo_sync.webhooks")

SOURCE = "webhook"
PENDING = "pending"
# Waiting on an application's transaction longer than this answers 503: Brevo retries.
LOCK_WAIT = "2s"


@dataclass
class Applied:
    """What one delivery did, by outcome; the emails whose contact the mirror should read."""

    counts: Counter[str] = field(default_factory=Counter)
    refresh: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return dict(self.counts)


async def apply_events(pool: Pool, events: Sequence[Event], *, list_id: int | None) -> Applied:
    """Apply the events of one delivery (oldest first) in one transaction."""
    applied = Applied()
    if not events:
        return applied
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
        fresh = await _claim(conn, events)
        applied.counts["duplicate"] = len(events) - len(fresh)
        if fresh:
            await _apply_fresh(conn, fresh, list_id, applied)
    log.info("brevo_webhook_applied", events=len(events), **applied.as_json())
    return applied


async def _claim(conn: Conn, events: Sequence[Event]) -> list[tuple[int, Event]]:
    by_key = {e.key: e for e in events}
    position = {e.key: i for i, e in enumerate(events)}
    rows = await (await conn.execute(q("webhook_claim_events"), {
        "kinds": [e.kind for e in events], "emails": [e.email for e in events],
        "ts": [e.ts for e in events], "refs": [e.ref for e in events],
        "outcomes": [PENDING] * len(events)})).fetchall()
    claimed = [(int(r["id"]), by_key[(r["event"], r["email_lower"], int(r["ts_event"]), r["ref"])])
               for r in rows]
    return sorted(claimed, key=lambda pair: position[pair[1].key])


async def _apply_fresh(conn: Conn, fresh: list[tuple[int, Event]], list_id: int | None,
                       applied: Applied) -> None:
    emails = emails_of(e for _, e in fresh)
    known, contact_ids = await _read_known(conn, emails)
    effects = _Effects()
    for event_id, event in fresh:
        state = known[event.email]
        decision = decide(event, state, list_id)
        effects.add(event_id, event, decision, state.customers[0].id if state.customers else None)
        applied.counts[decision.outcome] += 1
    await _write(conn, effects, known, contact_ids)
    applied.refresh = sorted(effects.refresh)


async def _read_known(conn: Conn, emails: list[str]) -> tuple[dict[str, Known], dict[Any, int]]:
    await conn.execute(q("webhook_lock_contacts"), {"emails": emails})
    known = {email: Known() for email in emails}
    for row in await (await conn.execute(q("webhook_contact_states"),
                                         {"emails": emails})).fetchall():
        state = known[row["email_lower"]]
        state.subscribed_ts = int(row["subscribed_ts"])
        state.seen_ts = int(row["seen_ts"])
        state.hard_bounce_ts = int(row["hard_bounce_ts"])
    contact_ids: dict[Any, int] = {}
    for row in await (await conn.execute(q("webhook_customers"), {"emails": emails})).fetchall():
        state = known[row["email_lower"]]
        state.customers += (Customer(row["id"], bool(row["marketing_opt_in"]),
                                     int(row["opted_in_ts"] or 0)),)
        if row["brevo_contact_id"] is not None:
            contact_ids[row["id"]] = int(row["brevo_contact_id"])
    return known, contact_ids


@dataclass
class _Effects:
    ids: list[int] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    messages: list[str | None] = field(default_factory=list)
    customers: list[Any] = field(default_factory=list)
    opt_outs: dict[Any, str] = field(default_factory=dict)
    bounces: dict[str, Event] = field(default_factory=dict)
    forget: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)

    def add(self, event_id: int, event: Event, decision: Decision, customer_id: Any) -> None:
        self.ids.append(event_id)
        self.outcomes.append(decision.outcome)
        self.messages.append(decision.message)
        self.customers.append(decision.opt_out[0] if decision.opt_out else customer_id)
        if decision.effect == OPT_OUT:
            for customer_id in decision.opt_out:
                self.opt_outs.setdefault(customer_id, decision.message or "")
        elif decision.effect == NOTE_BOUNCE:
            self.bounces[event.email] = event
        elif decision.effect == FORGET:
            self.forget.add(event.email)
            self.refresh.discard(event.email)
        elif decision.effect == REFRESH:
            self.refresh.add(event.email)
            self.forget.discard(event.email)


async def _write(conn: Conn, effects: _Effects, known: dict[str, Known],
                 contact_ids: dict[Any, int]) -> None:
    if effects.opt_outs:
        ids = list(effects.opt_outs)
        await conn.execute(q("reflect_unsubscribes"), {
            "ids": ids, "contact_ids": [contact_ids.get(i) for i in ids],
            "messages": [effects.opt_outs[i] for i in ids], "source": SOURCE, "run_id": None})
    if effects.bounces:
        await _note_bounces(conn, effects.bounces, known)
    if effects.forget:
        await conn.execute(q("webhook_forget_contacts"), {"emails": sorted(effects.forget)})
    emails = sorted(known)
    await conn.execute(q("webhook_save_contacts"), {
        "emails": emails,
        "subscribed": [known[e].subscribed_ts for e in emails],
        "seen": [known[e].seen_ts for e in emails],
        "bounced": [known[e].hard_bounce_ts if e in effects.bounces else 0 for e in emails],
        "reasons": [effects.bounces[e].reason if e in effects.bounces else None
                    for e in emails],
        "refresh": [e in effects.refresh for e in emails]})
    await conn.execute(q("webhook_record_outcomes"), {
        "ids": effects.ids, "outcomes": effects.outcomes, "messages": effects.messages,
        "customer_ids": effects.customers})


async def _note_bounces(conn: Conn, bounces: dict[str, Event], known: dict[str, Known]) -> None:
    ids, messages = [], []
    for email, event in bounces.items():
        at = datetime.fromtimestamp(event.ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        why = f": {event.reason}" if event.reason else ""
        for customer in known[email].customers:
            ids.append(customer.id)
            messages.append(f"email undeliverable (hard bounce at {at}{why})")
    await conn.execute(q("webhook_history"), {
        "ids": ids, "actions": [HARD_BOUNCE] * len(ids), "messages": messages})


async def refresh_contacts(pool: Pool, client: BrevoClient, emails: Sequence[str], *,
                           names: AttributeNames = DEFAULT_NAMES) -> int:
    """Read the contacts again from Brevo into the mirror (a contact updated there); one
    that is gone leaves the mirror. Returns how many were read. Failures leave them marked."""
    # Run after the delivery was answered, outside the route's bound context.
    with bound_contextvars(source=SOURCE):
        return await _refresh(pool, client, emails, names)


async def _refresh(pool: Pool, client: BrevoClient, emails: Sequence[str],
                   names: AttributeNames) -> int:
    since = datetime.now(UTC)
    done: list[str] = []
    for email in emails:
        try:
            contact = await client.get_contact_by_email(email)
        except BrevoError as exc:
            log.warning("brevo_webhook_refresh_failed", error=str(exc))
            continue
        if contact is None:
            async with pool.connection() as conn:
                await conn.execute(q("webhook_forget_contacts"), {"emails": [email]})
        else:
            await upsert_contacts(pool, [contact], fetched_at=since, names=names)
        done.append(email)
    if done:
        async with pool.connection() as conn:
            await conn.execute(q("webhook_refreshed"), {"emails": done, "since": since})
    return len(done)


__all__ = ["APPLIED", "SOURCE", "Applied", "apply_events", "refresh_contacts"]
