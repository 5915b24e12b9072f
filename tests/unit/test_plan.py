"""A sweep's plan, its pure parts: which change each drift row is, what a row's change says
(from the engine's own decision), and how the plan reads as a sentence, as text and as JSON."""

from __future__ import annotations

import uuid
from uuid import UUID

from brevo_sync.decide import Create, Nothing, Policy, Reject, Remove, Update, decide
from brevo_sync.drift import Drift
from brevo_sync.engine import Prepared
from brevo_sync.plan import (
    BLOCKLISTS,
    CHANGES,
    CREATES,
    REMOVALS,
    RENAMES,
    UPDATES,
    Plan,
    PlanRow,
    changes_of,
    describe,
    first_ids,
    plan_message,
    plan_rows,
    plan_text,
)
from brevo_sync.rows import Customer, MirrorContact, QueueItem, SyncState
from brevo_sync.unsubscribes import LEFT_LIST, MESSAGE

POLICY = Policy(list_id=2)


def ids(n: int) -> list[UUID]:
    return [UUID(int=i) for i in range(1, n + 1)]


def customer(cid: UUID, **fields: object) -> Customer:
    values: dict[str, object] = {"id": cid, "email": "ada@example.com", "first_name": "Ada",
                                 "last_name": "Lovelace", "phone": None,
                                 "marketing_opt_in": True, "used_welcome_offer": False}
    values.update(fields)
    return Customer(**values)  # type: ignore[arg-type]


def contact(**fields: object) -> MirrorContact:
    values: dict[str, object] = {"id": 7, "email": "ada@example.com",
                                 "attributes": {"FIRSTNAME": "Ada", "LASTNAME": "Lovelace",
                                                "USED_WELCOME_OFFER": False},
                                 "list_ids": frozenset({2})}
    values.update(fields)
    return MirrorContact(**values)  # type: ignore[arg-type]


def decided(cid: UUID, who: Customer | None, known: MirrorContact | None,
            memory: SyncState | None = None, item: QueueItem | None = None) -> Prepared:
    """As the engine prepares a row: decide.py's action."""
    item = item or QueueItem(cid, 0)
    return Prepared(item, who, known, decide(item, who, known, memory, POLICY))


# --- which change ---------------------------------------------------------------------------


def test_each_kind_of_drift_is_the_change_the_sweep_makes() -> None:
    a, b, c, d, e, f, g = ids(7)
    drift = Drift(ids={"missing": [a], "attributes": [b, c], "list": [d], "opted_out": [e],
                       "deleted": [f, g]},
                  renamed=[c], how={"opted_out": "blocklist", "deleted": "unlist"})
    assert changes_of(drift, []) == {CREATES: [a], UPDATES: [b, d], RENAMES: [c],
                                     REMOVALS: [f, g], BLOCKLISTS: [e]}


def test_the_policys_removal_decides_between_removal_and_blocklist() -> None:
    a, b = ids(2)
    drift = Drift(ids={"opted_out": [a], "deleted": [b]},
                  how={"opted_out": "delete", "deleted": "blocklist"})
    changes = changes_of(drift, [])
    assert changes[REMOVALS] == [a] and changes[BLOCKLISTS] == [b]


def test_brevos_unsubscribes_are_blocklists_counted_once() -> None:
    a, b, c = ids(3)
    drift = Drift(ids={"opted_out": [c, a]}, how={"opted_out": "blocklist"})
    changes = changes_of(drift, [(b, 11, MESSAGE), (a, 12, LEFT_LIST.format(list_id=2))])
    assert changes[BLOCKLISTS] == [a, b, c]
    assert all(changes[k] == [] for k in (CREATES, UPDATES, RENAMES, REMOVALS))


def test_the_rows_shown_are_the_first_of_each_change() -> None:
    many = ids(9)
    changes = {CREATES: many[:7], UPDATES: many[7:], RENAMES: [], REMOVALS: [], BLOCKLISTS: []}
    assert first_ids(changes, 5) == many[:5] + many[7:]


# --- what a row's change says ---------------------------------------------------------------


def test_a_create_says_it_joins_the_list() -> None:
    cid = UUID(int=1)
    row = decided(cid, customer(cid), None)
    assert isinstance(row.action, Create)
    assert describe(row.action, row.known) == "create the contact; add to list 2"


def test_an_update_shows_each_field_before_and_after() -> None:
    cid = UUID(int=1)
    row = decided(cid, customer(cid, first_name="Ada", last_name="King", phone="+33612345678"),
                  contact(attributes={"FIRSTNAME": "Someone", "LASTNAME": "Lovelace"}))
    assert isinstance(row.action, Update) and row.action.new_email is None
    assert describe(row.action, row.known) == (
        "FIRSTNAME Someone → Ada; LASTNAME Lovelace → King; SMS (empty) → +33612345678")


def test_a_rename_shows_both_emails_and_a_cleared_phone() -> None:
    cid = UUID(int=1)
    known = contact(attributes={"FIRSTNAME": "Ada", "LASTNAME": "Lovelace",
                                "SMS": "33612345678"})
    row = decided(cid, customer(cid, email="ada@new.example"), known)
    assert isinstance(row.action, Update)
    assert describe(row.action, row.known) == (
        "email ada@example.com → ada@new.example; clear SMS")


def test_an_update_of_a_contact_the_mirror_lost_says_so() -> None:
    cid = UUID(int=1)
    row = decided(cid, customer(cid, brevo_contact_id=41), None)
    assert isinstance(row.action, Update)
    assert describe(row.action, row.known).startswith("update contact 41 with every field")


def test_a_list_to_join_again_is_said() -> None:
    cid = UUID(int=1)
    row = decided(cid, customer(cid), contact(list_ids=frozenset()))
    assert describe(row.action, row.known) == "add to list 2"


def test_removals_say_how_and_why() -> None:
    cid = UUID(int=1)
    memory = SyncState(email="ada@example.com", brevo_contact_id=7, status="synced")
    opted_out = decided(cid, customer(cid, marketing_opt_in=False, brevo_contact_id=7),
                        contact(), memory)
    assert describe(opted_out.action, opted_out.known) == (
        "blocklist contact 7 (opted out of marketing)")
    gone = decided(cid, None, contact(), memory,
                   QueueItem(cid, 0, True, "ada@example.com", 7))
    assert describe(gone.action, gone.known) == (
        "remove contact 7 from list 2 (deleted in the database)")
    deleting = Remove(7, "ada@example.com", "delete", 2, "deleted in the database")
    assert describe(deleting, None) == "delete contact 7 (deleted in the database)"


def test_nothing_and_a_refusal_say_why() -> None:
    assert describe(Nothing("in sync"), None) == "no change: in sync"
    assert describe(Reject("email is invalid"), None) == "not sent: email is invalid"


def test_a_long_value_is_cut() -> None:
    action = Update(7, "ada@example.com", attributes={"LASTNAME": "x" * 60})
    text = describe(action, contact())
    assert text == f"LASTNAME Lovelace → {'x' * 39}…"


# --- the rows ---------------------------------------------------------------------------------


def test_rows_name_the_customer_and_what_changes() -> None:
    created, opted, gone = ids(3)
    memory = SyncState(email="old@example.com", brevo_contact_id=9, status="synced")
    rows = plan_rows(
        {CREATES: [created], UPDATES: [], RENAMES: [], REMOVALS: [gone], BLOCKLISTS: [opted]},
        [decided(created, customer(created, email="new@example.com"), None),
         decided(opted, customer(opted, marketing_opt_in=False, first_name=None,
                                 last_name="Solo", brevo_contact_id=7), contact(),
                 SyncState(email="ada@example.com", brevo_contact_id=7, status="synced")),
         decided(gone, None, contact(id=9, email="old@example.com"), memory,
                 QueueItem(gone, 0, True, "old@example.com", 9))],
        [(opted, 7, LEFT_LIST.format(list_id=2))], list_id=2)
    assert rows[CREATES] == [PlanRow(created, "Ada Lovelace", "new@example.com",
                                     "create the contact; add to list 2")]
    assert rows[BLOCKLISTS] == [PlanRow(
        opted, "Solo", "ada@example.com",
        "opt out here: left list 2 in Brevo; then blocklist contact 7 (opted out of marketing)")]
    assert rows[REMOVALS] == [PlanRow(gone, "(deleted)", "old@example.com",
                                      "remove contact 9 from list 2 (deleted in the database)")]


def test_an_unsubscribe_brevo_already_blocklisted_only_opts_out() -> None:
    cid = UUID(int=1)
    prepared = decided(cid, customer(cid, marketing_opt_in=False, brevo_contact_id=7),
                       contact(email_blacklisted=True),
                       SyncState(email="ada@example.com", brevo_contact_id=7, status="synced"))
    assert isinstance(prepared.action, Nothing)
    rows = plan_rows({BLOCKLISTS: [cid]}, [prepared], [(cid, 7, MESSAGE)], list_id=2)
    assert [r.change for r in rows[BLOCKLISTS]] == [
        "opt out here: blocklisted in Brevo (unsubscribe, complaint or bounce)"]


def test_a_row_gone_since_the_drift_was_found_says_so() -> None:
    cid = UUID(int=1)
    rows = plan_rows({UPDATES: [cid]}, [], [], list_id=2)
    assert rows[UPDATES] == [PlanRow(cid, "", None, "gone meanwhile")]


def test_only_the_first_rows_are_kept() -> None:
    many = ids(7)
    prepared = [decided(i, customer(i, email=f"c{i.int}@example.com"), None) for i in many]
    rows = plan_rows({CREATES: many}, prepared, [], list_id=2, n=5)
    assert [r.customer_id for r in rows[CREATES]] == many[:5]


# --- rendering ----------------------------------------------------------------------------------


def counts(**values: int) -> dict[str, int]:
    return {change: values.get(change, 0) for change in CHANGES}


def test_the_message_counts_every_change() -> None:
    text = plan_message(counts(creates=3, renames=1, blocklists=2), 1, 20, None)
    assert text == ("Sync All would create 3, update 0, rename 1, remove 0, blocklist 2"
                    " (1 of the blocklists unsubscribed in Brevo, opted out here)")


def test_the_message_says_when_there_is_nothing_to_do() -> None:
    assert plan_message(counts(), 0, 1, None) == (
        "Nothing to change: Brevo matches the 1 opted-in customer")
    assert plan_message(counts(), 0, 1200, None) == (
        "Nothing to change: Brevo matches the 1,200 opted-in customers")


def test_the_message_says_the_sweep_would_refuse() -> None:
    text = plan_message(counts(removals=9), 0, 10, "refused: too many")
    assert text == "Sync All would change nothing: refused: too many"


def test_the_text_lists_the_first_rows_and_how_many_more() -> None:
    a, b = ids(2)
    rows = {CREATES: [PlanRow(a, "Ada Lovelace", "ada@example.com", "create the contact"),
                      PlanRow(b, "", None, "gone meanwhile")]}
    text = plan_text("Sync All would create 7", counts(creates=7), rows,
                     ["BREVO_ATTR_SMS SMS: missing (the sweep creates it first)"])
    assert text.splitlines() == [
        "Sync All would create 7",
        "setup: BREVO_ATTR_SMS SMS: missing (the sweep creates it first)",
        "creates (7):",
        f"  {a}  Ada Lovelace <ada@example.com>: create the contact",
        f"  {b}  -: gone meanwhile",
        "  … and 5 more",
    ]


def test_the_json_has_every_change_with_its_count_and_rows() -> None:
    a, b = ids(2)
    drift = Drift(ids={"missing": [a], "opted_out": [b]}, opted_in=4, synced_contacts=3,
                  how={"opted_out": "blocklist"})
    changes = changes_of(drift, [])
    plan = Plan(drift, [], changes,
                {CREATES: [PlanRow(a, "Ada", "ada@example.com", "create the contact")]},
                mirror={"listed": 0})
    body = plan.as_json()
    assert body["dry_run"] is True and body["status"] == "planned"
    assert body["counts"] == counts(creates=1, blocklists=1)
    assert body["rows"][CREATES] == [{"customer_id": str(a), "name": "Ada",
                                      "email": "ada@example.com", "change": "create the contact"}]
    assert body["rows"][BLOCKLISTS] == [] and set(body["rows"]) == set(CHANGES)
    assert (body["opted_in"], body["synced_contacts"], body["unsubscribes"]) == (4, 3, 0)
    assert body["drift"]["missing"] == 1 and body["refused"] is None
    assert body["message"] == plan.message() and body["mirror"] == {"listed": 0}
    refused = Plan(drift, [], changes, refused="refused: too many").as_json()
    assert refused["status"] == "refused" and refused["refused"] == "refused: too many"


def test_a_released_plan_holds_no_ids() -> None:
    a = uuid.uuid4()
    drift = Drift(ids={"attributes": [a]}, renamed=[a])
    plan = Plan(drift, [(a, 1, MESSAGE)], changes_of(drift, [(a, 1, MESSAGE)]))
    plan.release()
    assert plan.total == 0 and drift.total == 0 and plan.unsubscribes == []
