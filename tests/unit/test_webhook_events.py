"""Brevo's webhook events made into one shape, and what each does (pure)."""

from __future__ import annotations

import pytest

from brevo_sync.webhook_events import (
    APPLIED,
    CONTACT_DELETED,
    HARD_BOUNCE,
    IGNORED,
    LIST_ADDITION,
    OPT_OUT,
    SPAM,
    STALE,
    UNCHANGED,
    UNKNOWN,
    UNSUBSCRIBE,
    BadEvent,
    Customer,
    Event,
    Known,
    decide,
    event_kind,
    parse_delivery,
    parse_event,
)

UNSUB = {"id": 7, "camp_id": 3, "email": "Ann@Example.com", "campaign name": "C",
         "date_sent": "2026-11-28 11:00:00", "date_event": "2026-11-28 12:00:00",
         "event": "unsubscribe", "tag": "", "ts_sent": 1_800_000_000,
         "ts_event": 1_800_000_100, "ts": 1_800_003_700}


@pytest.mark.parametrize(("name", "kind"), [
    ("unsubscribe", UNSUBSCRIBE), ("unsubscribed", UNSUBSCRIBE), ("spam", SPAM),
    ("hard_bounce", HARD_BOUNCE), ("hardBounce", HARD_BOUNCE), ("list_addition", LIST_ADDITION),
    ("listAddition", LIST_ADDITION), ("contact_updated", "contact_updated"),
    ("contactUpdated", "contact_updated"), ("contact_deleted", CONTACT_DELETED),
    ("contactDeleted", CONTACT_DELETED), ("opened", IGNORED), ("", None), (3, None)])
def test_every_documented_spelling_names_one_kind(name: object, kind: str | None) -> None:
    assert event_kind(name) == kind


def test_an_unsubscribe_is_read_by_ts_event_never_date_event() -> None:
    event = parse_event(UNSUB)
    assert event == Event(UNSUBSCRIBE, "ann@example.com", 1_800_000_100, (), "#3")


def test_contact_events_without_ts_event_take_ts() -> None:
    event = parse_event({"event": "contact_deleted", "email": "a@b.c", "ts": 1_700_000_000,
                         "date": "x"})
    assert event is not None and event.ts == 1_700_000_000


@pytest.mark.parametrize("item", [
    {"event": "unsubscribe", "ts_event": 5},
    {"event": "unsubscribe", "email": "a@b.c"},
    {"event": "unsubscribe", "email": "a@b.c", "ts_event": -1},
    {"event": "unsubscribe", "email": "a@b.c", "ts_event": True},
    {"event": "unsubscribe", "email": "a@b.c", "ts_event": 5, "list_id": ["x"]},
    {"email": "a@b.c", "ts_event": 5},
    "unsubscribe",
])
def test_an_unreadable_event_says_why(item: object) -> None:
    with pytest.raises(BadEvent):
        parse_event(item)


def test_a_batch_is_deduplicated_ordered_and_keeps_going_past_a_bad_event() -> None:
    later = dict(UNSUB, ts_event=1_800_000_200, camp_id=4)
    events, rejected, ignored = parse_delivery(
        [later, UNSUB, UNSUB, {"event": "opened", "email": "a@b.c"}, {"event": "spam"}])
    assert [e.ts for e in events] == [1_800_000_100, 1_800_000_200]
    assert rejected == [{"index": 4, "error": "the event has no valid `email`"}]
    assert ignored == 1


@pytest.mark.parametrize("body", [42, "x", [], None])
def test_a_body_that_is_no_event_is_refused(body: object) -> None:
    with pytest.raises(BadEvent):
        parse_delivery(body)


def _unsub(ts: int, **kw: object) -> Event:
    return Event(UNSUBSCRIBE, "a@b.c", ts, **kw)  # type: ignore[arg-type]


def test_an_unsubscribe_opts_out_the_opted_in_customer() -> None:
    known = Known(customers=(Customer("c1", True, 100),))
    decision = decide(_unsub(200), known, list_id=5)
    assert (decision.outcome, decision.effect, decision.opt_out) == (APPLIED, OPT_OUT, ("c1",))
    assert decide(_unsub(300), known, list_id=5).outcome == UNCHANGED


def test_an_old_unsubscribe_never_undoes_a_later_opt_in() -> None:
    known = Known(customers=(Customer("c1", True, 500),))
    assert decide(_unsub(400), known, list_id=None).outcome == STALE


def test_an_unsubscribe_older_than_a_list_addition_is_stale() -> None:
    known = Known(customers=(Customer("c1", True, 100),))
    decide(Event(LIST_ADDITION, "a@b.c", 300, (5,)), known, list_id=5)
    assert decide(_unsub(200), known, list_id=5).outcome == STALE


def test_leaving_the_sync_list_counts_another_list_does_not() -> None:
    known = Known(customers=(Customer("c1", True, 100),))
    assert decide(_unsub(200, list_ids=(9,)), known, list_id=5).outcome == IGNORED
    assert decide(_unsub(200, list_ids=(5, 9)), known, list_id=5).effect == OPT_OUT


def test_an_unknown_email_is_ignored() -> None:
    assert decide(_unsub(200), Known(), list_id=None).outcome == UNKNOWN


def test_a_deletion_older_than_an_update_is_stale() -> None:
    known = Known()
    decide(Event("contact_updated", "a@b.c", 300), known, list_id=None)
    assert decide(Event(CONTACT_DELETED, "a@b.c", 200), known, list_id=None).outcome == STALE
    assert decide(Event(CONTACT_DELETED, "a@b.c", 400), known, list_id=None).outcome == APPLIED


def test_a_hard_bounce_is_recorded_once_and_never_by_an_older_one() -> None:
    known = Known(customers=(Customer("c1", True, 100),))
    assert decide(Event(HARD_BOUNCE, "a@b.c", 300), known, list_id=None).outcome == APPLIED
    assert decide(Event(HARD_BOUNCE, "a@b.c", 200), known, list_id=None).outcome == STALE
