"""The pure decision: what one customer needs in Brevo (DESIGN.md's table)."""

from __future__ import annotations

import uuid

from brevo_sync.attributes import AttributeNames
from brevo_sync.decide import (
    Create,
    Nothing,
    Policy,
    Reject,
    Remove,
    Update,
    attribute_changes,
    decide,
)
from brevo_sync.rows import Customer, MirrorContact, QueueItem, SyncState

CID = uuid.UUID("00000000-0000-0000-0000-000000000001")
POLICY = Policy(list_id=2)


def customer(**fields: object) -> Customer:
    values: dict[str, object] = {
        "id": CID,
        "email": "Ada@Example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+33612345678",
        "marketing_opt_in": True,
        "used_welcome_offer": False,
    }
    values.update(fields)
    return Customer(**values)  # type: ignore[arg-type]


def item(**fields: object) -> QueueItem:
    return QueueItem(CID, 1, **fields)  # type: ignore[arg-type]


def contact(**fields: object) -> MirrorContact:
    values: dict[str, object] = {
        "id": 7,
        "email": "ada@example.com",
        "attributes": {
            "FIRSTNAME": "Ada",
            "LASTNAME": "Lovelace",
            "SMS": "33612345678",
            "USED_WELCOME_OFFER": False,
        },
        "list_ids": frozenset({2}),
        "email_blacklisted": False,
    }
    values.update(fields)
    return MirrorContact(**values)  # type: ignore[arg-type]


def test_opted_in_not_in_brevo_is_created_with_attributes_and_list() -> None:
    action = decide(item(), customer(), None, None, POLICY)
    assert action == Create(
        "ada@example.com",
        {
            "FIRSTNAME": "Ada",
            "LASTNAME": "Lovelace",
            "SMS": "+33612345678",
            "USED_WELCOME_OFFER": False,
        },
        (2,),
    )


def test_opted_in_in_sync_needs_nothing() -> None:
    action = decide(item(), customer(brevo_contact_id=7), contact(), None, POLICY)
    assert isinstance(action, Nothing) and action.reason == "in sync"


def test_opted_in_sends_only_what_differs_and_keeps_lists() -> None:
    action = decide(
        item(),
        customer(brevo_contact_id=7, last_name="King"),
        contact(list_ids=frozenset({2, 9})),
        None,
        POLICY,
    )
    assert isinstance(action, Update)
    assert action.attributes == {"LASTNAME": "King"}
    assert action.list_ids == () and action.new_email is None


def test_missing_from_list_is_added_back() -> None:
    action = decide(
        item(), customer(brevo_contact_id=7), contact(list_ids=frozenset()), None, POLICY
    )
    assert isinstance(action, Update) and action.list_ids == (2,)


def test_email_change_renames_the_contact_by_id() -> None:
    action = decide(
        item(), customer(brevo_contact_id=7, email="ada.king@example.com"), contact(), None, POLICY
    )
    assert isinstance(action, Update)
    assert action.contact_id == 7 and action.new_email == "ada.king@example.com"


def test_email_change_unknown_to_the_mirror_still_goes_by_id() -> None:
    action = decide(
        item(),
        customer(brevo_contact_id=7, email="new@example.com"),
        None,
        SyncState(email="ada@example.com", brevo_contact_id=7, status="synced"),
        POLICY,
    )
    assert isinstance(action, Update) and action.contact_id == 7
    assert action.new_email == "new@example.com"


def test_opted_out_after_sync_is_blocklisted_by_default() -> None:
    action = decide(
        item(), customer(brevo_contact_id=7, marketing_opt_in=False), contact(), None, POLICY
    )
    assert isinstance(action, Remove) and action.how == "blocklist" and action.contact_id == 7


def test_opted_out_never_synced_needs_nothing() -> None:
    action = decide(item(), customer(marketing_opt_in=False), None, None, POLICY)
    assert action == Nothing("not opted in")


def test_deleted_customer_leaves_the_list_by_default() -> None:
    action = decide(
        item(deleted=True, deleted_email="ada@example.com", deleted_contact_id=7),
        None,
        contact(),
        None,
        POLICY,
    )
    assert isinstance(action, Remove) and action.how == "unlist" and action.list_id == 2


def test_unlist_without_a_list_falls_back_to_blocklist() -> None:
    action = decide(
        item(deleted=True, deleted_contact_id=7), None, None, None, Policy(list_id=None)
    )
    assert isinstance(action, Remove) and action.how == "blocklist"


def test_deleted_never_synced_needs_nothing() -> None:
    assert isinstance(decide(item(deleted=True), None, None, None, POLICY), Nothing)


def test_unsubscribed_in_brevo_is_never_resubscribed() -> None:
    action = decide(
        item(),
        customer(brevo_contact_id=7, first_name="Augusta"),
        contact(email_blacklisted=True),
        None,
        POLICY,
    )
    assert isinstance(action, Update) and not action.unblock
    assert action.note and "never re-subscribed" in action.note


def test_our_own_blocklist_is_lifted_when_the_customer_opts_in_again() -> None:
    memory = SyncState("ada@example.com", 7, "removed", removed_by_sync="blocklist")
    action = decide(
        item(), customer(brevo_contact_id=7), contact(email_blacklisted=True), memory, POLICY
    )
    assert isinstance(action, Update) and action.unblock


def test_bad_rows_are_rejected_with_a_reason() -> None:
    cases = {
        "email": customer(email="not-an-email"),
        "no email": customer(email=None),
        "characters long": customer(first_name="x" * 10_000),
    }
    for words, row in cases.items():
        action = decide(item(), row, None, None, POLICY)
        assert isinstance(action, Reject), words
        assert words in action.reason


def test_a_second_customer_with_the_same_email_is_rejected() -> None:
    other = uuid.uuid4()
    action = decide(item(), customer(), None, None, POLICY, shares_email_with=other)
    assert isinstance(action, Reject) and str(other) in action.reason


def test_a_phone_brevo_would_refuse_is_left_out_with_the_reason() -> None:
    action = decide(item(), customer(phone="12-34"), None, None, POLICY)
    assert isinstance(action, Create) and "SMS" not in action.attributes
    assert action.attributes["FIRSTNAME"] == "Ada" and action.list_ids == (2,)
    assert action.sms_withheld and action.note is not None
    assert "'12-34' left out: not a valid phone number" in action.note


def test_a_phone_with_its_country_code_but_no_plus_is_kept() -> None:
    action = decide(item(), customer(phone="33 6 12 34 56 78"), None, None, POLICY)
    assert isinstance(action, Create) and action.attributes["SMS"] == "+33612345678"
    assert not action.sms_withheld and action.note is None


def test_a_refused_phone_on_a_synced_contact_is_not_a_change_each_time() -> None:
    known = contact(attributes={"FIRSTNAME": "Ada", "LASTNAME": "Lovelace",
                                "USED_WELCOME_OFFER": False})
    action = decide(item(), customer(phone="0000", brevo_contact_id=7), known, None, POLICY)
    assert isinstance(action, Nothing) and action.sms_withheld
    assert "left out" in action.reason


def test_a_missing_boolean_equals_false() -> None:
    known = contact(attributes={"FIRSTNAME": "Ada", "LASTNAME": "Lovelace",
                                "SMS": "33612345678"})
    assert decide(item(), customer(brevo_contact_id=7), known, None, POLICY) == \
        Nothing("in sync")
    assert attribute_changes({"USED_WELCOME_OFFER": False}, {}) == {}
    assert attribute_changes({"USED_WELCOME_OFFER": True}, {}) == {"USED_WELCOME_OFFER": True}
    assert attribute_changes({"USED_WELCOME_OFFER": False}, {"USED_WELCOME_OFFER": "true"}) == \
        {"USED_WELCOME_OFFER": False}


def test_attributes_go_under_the_account_names() -> None:
    names = AttributeNames(firstname="PRENOM", lastname="NOM", sms="MOBILE",
                           used_welcome_offer="OFFRE")
    policy = Policy(list_id=2, attributes=names)
    action = decide(item(), customer(used_welcome_offer=True), None, None, policy)
    assert isinstance(action, Create) and action.attributes == {
        "PRENOM": "Ada", "NOM": "Lovelace", "MOBILE": "+33612345678", "OFFRE": True}
    known = contact(attributes={"PRENOM": "Ada", "NOM": "Lovelace", "MOBILE": "33612345678",
                                "OFFRE": True, "FIRSTNAME": "someone else"})
    assert decide(item(), customer(used_welcome_offer=True, brevo_contact_id=7), known, None,
                  policy) == Nothing("in sync")
    assert attribute_changes({"PRENOM": "A"}, {"PRENOM": "A", "MOBILE": "336"}, names) == \
        {"MOBILE": ""}


def test_someone_who_left_the_list_is_not_added_back() -> None:
    known = contact(list_ids=frozenset(), list_unsubscribed=frozenset({2}))
    action = decide(item(), customer(brevo_contact_id=7, first_name="Ada B."), known, None,
                    POLICY)
    assert isinstance(action, Update) and action.list_ids == ()
    assert action.attributes == {"FIRSTNAME": "Ada B."}
    assert action.recreate is not None and action.recreate.list_ids == ()
    assert action.note is not None and "not added back" in action.note
    unchanged = decide(item(), customer(brevo_contact_id=7), known, None, POLICY)
    assert isinstance(unchanged, Nothing) and "not added back" in unchanged.reason


def test_someone_who_left_the_list_matched_by_email_is_not_added_back() -> None:
    known = contact(list_ids=frozenset(), list_unsubscribed=frozenset({2}))
    action = decide(item(), customer(last_name="King"), known, None, POLICY)
    assert isinstance(action, Update) and action.list_ids == ()
    assert action.contact_id == 7 and action.attributes == {"LASTNAME": "King"}


def test_local_phone_uses_the_default_region() -> None:
    action = decide(
        item(), customer(phone="06 12 34 56 78"), None, None, Policy(list_id=2, phone_region="FR")
    )
    assert isinstance(action, Create) and action.attributes["SMS"] == "+33612345678"


def test_removed_phone_is_cleared() -> None:
    assert attribute_changes({"FIRSTNAME": "A"}, {"FIRSTNAME": "A", "SMS": "336"}) == {"SMS": ""}


def test_non_ascii_names_are_kept() -> None:
    action = decide(item(), customer(first_name="  Zoë ", last_name="Ødegård"), None, None, POLICY)
    assert isinstance(action, Create)
    assert action.attributes["FIRSTNAME"] == "Zoë" and action.attributes["LASTNAME"] == "Ødegård"


def test_unrecorded_create_under_an_old_email_is_renamed_not_duplicated() -> None:
    memory = SyncState(status="pending", pushed_email="ada@example.com")
    action = decide(item(), customer(email="ada.king@example.com"), None, memory, POLICY)
    assert isinstance(action, Create) and action.previous_email == "ada@example.com"


def test_unrecorded_create_is_removed_when_the_customer_opts_out() -> None:
    memory = SyncState(status="pending", pushed_email="ada@example.com")
    action = decide(item(), customer(marketing_opt_in=False), None, memory, POLICY)
    assert isinstance(action, Remove) and action.contact_id is None
    assert action.email == "ada@example.com"


def test_unrecorded_create_is_removed_when_the_customer_is_deleted() -> None:
    memory = SyncState(status="pending", pushed_email="ada@example.com")
    action = decide(item(deleted=True, deleted_email="ada@example.com"), None, None, memory,
                    POLICY)
    assert isinstance(action, Remove) and action.email == "ada@example.com"


def test_our_blocklist_is_lifted_even_before_the_mirror_saw_it() -> None:
    memory = SyncState("ada@example.com", 7, "synced", removed_by_sync="blocklist")
    action = decide(item(), customer(brevo_contact_id=7), contact(), memory, POLICY)
    assert isinstance(action, Update) and action.unblock
