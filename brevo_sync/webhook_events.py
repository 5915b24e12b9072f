"""Brevo's marketing webhooks: the events as Brevo sends them made into one shape, and what
each one does (pure: no I/O; brevo_sync/webhooks.py applies the decisions).

Brevo posts one event, or an array of them when the webhook is `batched`. An event names its
kind in `event` ("unsubscribe", "spam", "hard_bounce", "list_addition", "contact_updated",
"contact_deleted"; the webhook definitions spell them `unsubscribed`, `hardBounce`,
`listAddition`…, and both spellings are taken). `ts_event` is the event's UTC time in
seconds; `date_event` is local time and never used (events without `ts_event` fall back on
`ts`, also seconds). Ordering is by that time, not by arrival: Brevo retries, batches and
delivers out of order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

UNSUBSCRIBE = "unsubscribe"
SPAM = "spam"
HARD_BOUNCE = "hard_bounce"
LIST_ADDITION = "list_addition"
CONTACT_UPDATED = "contact_updated"
CONTACT_DELETED = "contact_deleted"
OPT_OUTS = frozenset({UNSUBSCRIBE, SPAM})

# Every documented spelling, compared without case, underscores or dashes.
_KINDS = {
    "unsubscribe": UNSUBSCRIBE,
    "unsubscribed": UNSUBSCRIBE,
    "spam": SPAM,
    "hardbounce": HARD_BOUNCE,
    "hardbounced": HARD_BOUNCE,
    "listaddition": LIST_ADDITION,
    "contactupdated": CONTACT_UPDATED,
    "contactdeleted": CONTACT_DELETED,
}
# Marketing events the sync has no use for (opens, clicks…): answered, not recorded.
IGNORED = "ignored"

# Outcomes recorded per event.
APPLIED = "applied"
UNCHANGED = "unchanged"
STALE = "stale"
UNKNOWN = "unknown"

# Effects the I/O side carries out.
OPT_OUT = "opt_out"
NOTE_BOUNCE = "note_bounce"
FORGET = "forget"
REFRESH = "refresh"

MAX_TS = 2**53  # beyond any second Brevo could date an event
MAX_EMAIL = 320


class BadEvent(ValueError):
    """An event that cannot be read: the message says why."""


@dataclass(frozen=True)
class Event:
    kind: str
    email: str          # lower-case: matching is case-insensitive
    ts: int             # Brevo's UTC seconds
    list_ids: tuple[int, ...] = ()
    ref: str = ""       # what tells apart two events of one kind, email and second
    reason: str | None = None

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.kind, self.email, self.ts, self.ref)


def event_kind(name: object) -> str | None:
    """The event's kind from any documented spelling; IGNORED for other marketing events,
    None when it is not a name at all."""
    if not isinstance(name, str) or not name.strip():
        return None
    folded = name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
    return _KINDS.get(folded, IGNORED)


def event_list(body: object) -> list[Any]:
    """The events of a delivery: one object, or a batched array of them."""
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        if not body:
            raise BadEvent("the delivery holds no event")
        return body
    raise BadEvent("the body must be an event object or an array of events")


def parse_event(item: object) -> Event | None:
    """One event in its one shape; None for a marketing event the sync does not use."""
    if not isinstance(item, dict):
        raise BadEvent("an event must be a JSON object")
    kind = event_kind(item.get("event"))
    if kind is None:
        raise BadEvent("the event has no `event` name")
    if kind == IGNORED:
        return None
    email = _email(item.get("email"))
    ts = _timestamp(item)
    list_ids = _list_ids(item)
    ref = ",".join(str(i) for i in list_ids)
    camp_id = item.get("camp_id")
    if kind in (UNSUBSCRIBE, SPAM, HARD_BOUNCE) and _is_int(camp_id):
        ref = f"{ref}#{camp_id}" if ref else f"#{camp_id}"
    reason = item.get("reason")
    return Event(kind, email, ts, list_ids, ref,
                 reason[:500] if isinstance(reason, str) and reason else None)


def parse_delivery(body: object) -> tuple[list[Event], list[dict[str, Any]], int]:
    """The events to act on (one per key, oldest first), the events refused with their
    reason (by position in the delivery), and how many were of kinds the sync ignores."""
    events: dict[tuple[str, str, int, str], Event] = {}
    rejected: list[dict[str, Any]] = []
    ignored = 0
    for index, item in enumerate(event_list(body)):
        try:
            event = parse_event(item)
        except BadEvent as exc:
            rejected.append({"index": index, "error": str(exc)})
            continue
        if event is None:
            ignored += 1
        else:
            events.setdefault(event.key, event)
    return sorted(events.values(), key=_order), rejected, ignored


# Within one second, a contact's deletion comes after what else happened to it.
_SAME_SECOND = {LIST_ADDITION: 0, CONTACT_UPDATED: 1, HARD_BOUNCE: 2, SPAM: 3, UNSUBSCRIBE: 3,
                CONTACT_DELETED: 4}


def _order(event: Event) -> tuple[int, int, str, str, str]:
    # A total order over keys: two deliveries sharing events claim them in the same order,
    # so their inserts wait for each other instead of deadlocking.
    return (event.ts, _SAME_SECOND[event.kind], event.kind, event.email, event.ref)


# --- what an event does ------------------------------------------------------------------


@dataclass
class Known:
    """What the database knows of one email when an event about it is applied."""

    subscribed_ts: int = 0      # newest list addition applied
    seen_ts: int = 0            # newest event showing the contact alive in Brevo
    hard_bounce_ts: int = 0
    customers: tuple[Customer, ...] = ()


@dataclass(frozen=True)
class Customer:
    id: Any
    opted_in: bool
    opted_in_ts: int            # when the customer last opted in (or was created), UTC s


@dataclass(frozen=True)
class Decision:
    outcome: str
    effect: str | None = None
    message: str | None = None
    opt_out: tuple[Any, ...] = ()   # the customers to opt out


def decide(event: Event, known: Known, list_id: int | None) -> Decision:
    """What `event` does, given what is known of its email; `known` is updated as if the
    decision were carried out, so a batch is decided event after event."""
    if event.kind in OPT_OUTS:
        return _opt_out(event, known, list_id)
    if event.kind == HARD_BOUNCE:
        return _hard_bounce(event, known)
    if event.kind == CONTACT_DELETED:
        if event.ts < known.seen_ts:
            return Decision(STALE, message="Brevo showed the contact after this deletion")
        return Decision(APPLIED, FORGET, "deleted in Brevo: the mirror forgets the contact")
    # A list addition or an update: the mirror reads the contact again. A list addition never
    # subscribes the customer here: the table is the source of truth for opting in.
    known.seen_ts = max(known.seen_ts, event.ts)
    if event.kind == LIST_ADDITION:
        known.subscribed_ts = max(known.subscribed_ts, event.ts)
    return Decision(APPLIED, REFRESH, f"{event.kind.replace('_', ' ')} in Brevo")


def _opt_out(event: Event, known: Known, list_id: int | None) -> Decision:
    what = "marked as spam" if event.kind == SPAM else "unsubscribed"
    if event.kind == UNSUBSCRIBE and event.list_ids and list_id is not None \
            and list_id not in event.list_ids:
        # They left another list only: the sync's list keeps them. The mirror reads the
        # contact again, so a blocklist Brevo applied as well still reaches the sweep.
        left = ", ".join(str(i) for i in event.list_ids)
        return Decision(IGNORED, REFRESH, f"unsubscribed from list {left}, not the sync's list")
    if not known.customers:
        return Decision(UNKNOWN, message="no customer has this email")
    if event.ts < known.subscribed_ts:
        return Decision(STALE, message="added to a list in Brevo after this event")
    newer = [c for c in known.customers if c.opted_in and c.opted_in_ts > event.ts]
    targets = tuple(c.id for c in known.customers
                    if c.opted_in and c.opted_in_ts <= event.ts)
    if newer and not targets:
        return Decision(STALE, message="the customer opted in after this event")
    if not targets:
        return Decision(UNCHANGED, message=f"{what} in Brevo: already opted out")
    known.customers = tuple(
        Customer(c.id, False, c.opted_in_ts) if c.id in targets else c
        for c in known.customers)
    return Decision(APPLIED, OPT_OUT, opt_out_message(event, what), targets)


def _hard_bounce(event: Event, known: Known) -> Decision:
    if not known.customers:
        return Decision(UNKNOWN, message="no customer has this email")
    if event.ts <= known.hard_bounce_ts:
        return Decision(STALE, message="a later hard bounce is already recorded")
    known.hard_bounce_ts = event.ts
    why = f": {event.reason}" if event.reason else ""
    return Decision(APPLIED, NOTE_BOUNCE, f"email undeliverable (hard bounce{why})")


def opt_out_message(event: Event, what: str) -> str:
    lists = f" from list {', '.join(map(str, event.list_ids))}" if event.list_ids else ""
    return f"{what}{lists} in Brevo (webhook, ts_event {event.ts}): marketing_opt_in set to false"


def emails_of(events: Iterable[Event]) -> list[str]:
    return sorted({e.email for e in events})


def _email(value: object) -> str:
    if not isinstance(value, str) or "@" not in value or len(value) > MAX_EMAIL:
        raise BadEvent("the event has no valid `email`")
    return value.strip().lower()


def _timestamp(item: dict[str, Any]) -> int:
    for name in ("ts_event", "ts"):
        value = item.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < MAX_TS:
            return value
        if value is not None:
            raise BadEvent(f"`{name}` must be UTC seconds (a positive integer)")
    raise BadEvent("the event has no `ts_event` (UTC seconds)")


def _list_ids(item: dict[str, Any]) -> tuple[int, ...]:
    value = item.get("list_id", item.get("list_ids"))
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    ids = []
    for v in values:
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        if not _is_int(v):
            raise BadEvent("`list_id` must be a list id or an array of them")
        ids.append(int(v))
    return tuple(sorted(set(ids)))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
