"""The Brevo emulator, driven in-process the way the client drives it (reference §13).

Every call through the `brevo` client also passes the OpenAPI conformance check, and the test
fails if a request or an answer is off Brevo's published definition. Calls that are off it on
purpose (bad input) go through `raw`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from brevo_sync.emulator import EmulatorConfig, ManualClock, create_app
from tests.support.openapi_check import OpenAPIConformance

KEY = "xkeysib-emulator-test"
Client = httpx.AsyncClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig(import_base_ms=100.0, import_ms_per_contact=1.0, seed=3)


@pytest.fixture
def app(config: EmulatorConfig, clock: ManualClock) -> Any:
    return create_app(config, clock=clock)


@pytest.fixture
def checked(app: Any) -> Iterator[OpenAPIConformance]:
    conformance = OpenAPIConformance(app)
    yield conformance
    assert conformance.violations == []


def _client(app: Any, **headers: str) -> Client:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://brevo/v3", headers=headers
    )


@pytest.fixture
async def brevo(checked: OpenAPIConformance) -> AsyncIterator[Client]:
    async with _client(checked, **{"api-key": KEY}) as client:
        yield client


@pytest.fixture
async def raw(app: Any) -> AsyncIterator[Client]:
    async with _client(app, **{"api-key": KEY}) as client:
        yield client


async def create(brevo: Client, email: str, **fields: Any) -> int:
    response = await brevo.post("/contacts", json={"email": email, **fields})
    assert response.status_code == 201, response.text
    contact_id: int = response.json()["id"]
    return contact_id


async def fetch(brevo: Client, identifier: str | int, **params: str) -> dict[str, Any]:
    response = await brevo.get(f"/contacts/{identifier}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("code"), body["message"]


# -- auth and bodies -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_missing_api_key_is_refused_with_brevos_message(app: Any) -> None:
    async with _client(app) as anonymous:
        response = await anonymous.get("/contacts")
    assert response.status_code == 401
    assert response.json() == {
        "message": "authentication not found in headers",
        "code": "unauthorized",
    }


@pytest.mark.anyio
async def test_a_wrong_api_key_is_refused_when_a_key_is_configured(app: Any) -> None:
    app.state.config.api_key = "the-right-key"
    async with _client(app, **{"api-key": "another"}) as wrong:
        response = await wrong.get("/contacts")
    async with _client(app, **{"api-key": "the-right-key"}) as right:
        accepted = await right.get("/contacts")
    assert error(response) == (401, "unauthorized", "Key not found")
    assert accepted.status_code == 200


@pytest.mark.anyio
async def test_any_non_empty_key_is_accepted_without_a_configured_key(brevo: Client) -> None:
    assert (await brevo.get("/contacts")).status_code == 200


@pytest.mark.anyio
async def test_a_body_that_is_not_json_is_refused(raw: Client) -> None:
    form = await raw.post("/contacts", content=b"email=a", headers={"content-type": "text/plain"})
    malformed = await raw.post(
        "/contacts", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert form.status_code == 406
    assert error(malformed) == (400, "bad_request", "Input must be a valid JSON object")


# -- create and upsert -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_create_answers_201_with_the_new_id(brevo: Client) -> None:
    first = await create(brevo, "ada@example.com", attributes={"FIRSTNAME": "Ada"})
    second = await create(brevo, "bob@example.com")
    contact = await fetch(brevo, "ada@example.com")
    assert second == first + 1
    assert contact["attributes"] == {"FIRSTNAME": "Ada"}
    assert contact["listIds"] == [] and contact["emailBlacklisted"] is False
    assert contact["statistics"]["messagesSent"] == []


@pytest.mark.anyio
async def test_upsert_of_an_existing_email_answers_204_without_a_body(brevo: Client) -> None:
    await create(brevo, "ada@example.com", attributes={"FIRSTNAME": "Ada"}, listIds=[2])
    other = (await brevo.post("/contacts/lists", json={"name": "other", "folderId": 1})).json()
    response = await brevo.post(
        "/contacts",
        json={
            "email": "ADA@example.com",
            "attributes": {"LASTNAME": "Lovelace"},
            "listIds": [other["id"]],
            "updateEnabled": True,
        },
    )
    contact = await fetch(brevo, "ada@example.com")
    assert response.status_code == 204 and response.content == b""
    assert contact["attributes"] == {"FIRSTNAME": "Ada", "LASTNAME": "Lovelace"}
    assert contact["listIds"] == [2, other["id"]]


@pytest.mark.anyio
async def test_a_duplicate_email_is_refused_with_metadata(brevo: Client) -> None:
    await create(brevo, "ada@example.com")
    response = await brevo.post("/contacts", json={"email": "Ada@Example.com"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "duplicate_parameter",
        "message": "Unable to create contact, email is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["email"]},
    }


@pytest.mark.anyio
async def test_a_duplicate_sms_is_refused_on_create_and_on_upsert(brevo: Client) -> None:
    await create(brevo, "ada@example.com", attributes={"SMS": "+33612345678"})
    await create(brevo, "bob@example.com")
    on_create = await brevo.post(
        "/contacts", json={"email": "cy@example.com", "attributes": {"SMS": "0033612345678"}}
    )
    on_upsert = await brevo.post(
        "/contacts",
        json={
            "email": "bob@example.com",
            "attributes": {"SMS": "33612345678", "FIRSTNAME": "Bob"},
            "updateEnabled": True,
        },
    )
    assert error(on_create) == (
        400,
        "duplicate_parameter",
        "Unable to create contact, SMS is already associated with another Contact",
    )
    assert error(on_upsert)[2] == (
        "Unable to update contact, SMS is already associated with another Contact"
    )
    assert on_upsert.json()["metadata"] == {"duplicate_identifiers": ["SMS"]}
    assert (await fetch(brevo, "bob@example.com"))["attributes"] == {}, "nothing half-applied"
    assert (await brevo.get("/contacts/cy@example.com")).status_code == 404


@pytest.mark.anyio
async def test_several_clashing_identifiers_are_all_named(brevo: Client) -> None:
    await create(brevo, "ada@example.com", attributes={"SMS": "+33612345678"}, ext_id="A-1")
    response = await brevo.post(
        "/contacts",
        json={"email": "bob@example.com", "ext_id": "A-1", "attributes": {"SMS": "+33612345678"}},
    )
    assert error(response)[2] == (
        "Unable to create contact, SMS or EXT_ID are already associated with another Contact"
    )
    assert response.json()["metadata"] == {"duplicate_identifiers": ["SMS", "EXT_ID"]}


@pytest.mark.anyio
@pytest.mark.parametrize("given", ["+33612345678", "33612345678", "0033612345678"])
async def test_phone_numbers_are_accepted_in_brevos_three_forms(brevo: Client, given: str) -> None:
    await create(brevo, "ada@example.com", attributes={"SMS": given})
    assert (await fetch(brevo, "ada@example.com"))["attributes"]["SMS"] == "33612345678"
    assert (await fetch(brevo, "+33612345678", identifierType="phone_id"))["email"] == (
        "ada@example.com"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("given", ["12345", "0612345678", "+3361234", "not a phone"])
async def test_invalid_phone_numbers_are_refused(brevo: Client, given: str) -> None:
    response = await brevo.post(
        "/contacts", json={"email": "ada@example.com", "attributes": {"SMS": given}}
    )
    assert error(response) == (400, "invalid_parameter", "Invalid phone number")
    assert (await brevo.get("/contacts")).json()["count"] == 0


@pytest.mark.anyio
async def test_invalid_email_and_missing_identifier_are_refused(brevo: Client, raw: Client) -> None:
    invalid = await raw.post("/contacts", json={"email": "not-an-email"})
    missing = await brevo.post("/contacts", json={"attributes": {"FIRSTNAME": "Ada"}})
    assert error(invalid) == (400, "invalid_parameter", "Invalid email address")
    assert error(missing) == (
        400,
        "missing_parameter",
        "Please provide Email or SMS attribute value to create user",
    )


@pytest.mark.anyio
async def test_contacts_can_be_created_from_sms_or_ext_id_alone(brevo: Client) -> None:
    by_sms = await brevo.post("/contacts", json={"attributes": {"SMS": "+447911123456"}})
    by_ext = await brevo.post("/contacts", json={"ext_id": "crm-7"})
    assert by_sms.status_code == by_ext.status_code == 201
    found = await fetch(brevo, "crm-7", identifierType="ext_id")
    assert "email" not in found and found["attributes"] == {"EXT_ID": "crm-7"}


@pytest.mark.anyio
async def test_emails_are_stored_lower_case_and_matched_case_insensitively(brevo: Client) -> None:
    await create(brevo, "Ada.Lovelace+news@Example.COM")
    for spelled in ("ada.lovelace+news@example.com", "ADA.LOVELACE%2Bnews@example.com"):
        assert (await fetch(brevo, spelled))["email"] == "ada.lovelace+news@example.com"


@pytest.mark.anyio
async def test_mistyped_attribute_values_are_dropped_silently(brevo: Client) -> None:
    created = await brevo.post("/contacts/attributes/normal/USED_WELCOME_OFFER", json={})
    await brevo.post("/contacts/attributes/normal/USED_WELCOME_OFFER", json={"type": "boolean"})
    await create(
        brevo,
        "ada@example.com",
        attributes={"FIRSTNAME": 42, "USED_WELCOME_OFFER": "yes", "NOT_DECLARED": "x"},
    )
    await brevo.put("/contacts/ada@example.com", json={"attributes": {"USED_WELCOME_OFFER": True}})
    assert error(created) == (400, "missing_parameter", "No inputs in the body")
    assert (await fetch(brevo, "ada@example.com"))["attributes"] == {"USED_WELCOME_OFFER": True}


@pytest.mark.anyio
async def test_unknown_attributes_can_be_made_an_error(brevo: Client, app: Any) -> None:
    app.state.config.unknown_attributes = "error"
    response = await brevo.post(
        "/contacts", json={"email": "ada@example.com", "attributes": {"NOT_DECLARED": "x"}}
    )
    assert error(response)[:2] == (400, "invalid_parameter")


@pytest.mark.anyio
async def test_attributes_start_with_brevos_defaults_and_names_are_unique(brevo: Client) -> None:
    names = [
        item["name"] for item in (await brevo.get("/contacts/attributes")).json()["attributes"]
    ]
    first = await brevo.post(
        "/contacts/attributes/normal/USED_WELCOME_OFFER", json={"type": "boolean"}
    )
    again = await brevo.post(
        "/contacts/attributes/normal/USED_WELCOME_OFFER", json={"type": "text"}
    )
    assert names == ["EMAIL", "FIRSTNAME", "LASTNAME", "SMS"]
    assert first.status_code == 201 and first.content == b""
    assert error(again) == (400, "invalid_parameter", "Attribute name must be unique")


# -- get, update, delete ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_identifiers_resolve_by_type_and_digits_mean_an_id(brevo: Client) -> None:
    contact_id = await create(brevo, "ada@example.com", ext_id="77")
    assert (await fetch(brevo, contact_id))["email"] == "ada@example.com"
    assert (await fetch(brevo, contact_id, identifierType="contact_id"))["id"] == contact_id
    assert (await fetch(brevo, "77", identifierType="ext_id"))["id"] == contact_id
    missing = await brevo.get("/contacts/nobody@example.com")
    assert error(missing) == (404, "document_not_found", "Contact does not exist")


@pytest.mark.anyio
async def test_update_renames_the_email_unless_another_contact_has_it(brevo: Client) -> None:
    ada = await create(brevo, "ada@example.com")
    await create(brevo, "bob@example.com")
    renamed = await brevo.put(
        f"/contacts/{ada}",
        params={"identifierType": "contact_id"},
        json={"attributes": {"EMAIL": "Ada@New.example.com"}},
    )
    clash = await brevo.put(f"/contacts/{ada}", json={"attributes": {"EMAIL": "bob@example.com"}})
    same = await brevo.put(
        f"/contacts/{ada}", json={"attributes": {"EMAIL": "ada@new.example.com"}}
    )
    assert renamed.status_code == 204 and same.status_code == 204
    assert (await fetch(brevo, "ada@new.example.com"))["id"] == ada
    assert (await brevo.get("/contacts/ada@example.com")).status_code == 404
    assert error(clash) == (
        400,
        "duplicate_parameter",
        "Unable to update contact, email is already associated with another Contact",
    )
    assert clash.json()["metadata"] == {"duplicate_identifiers": ["email"]}


@pytest.mark.anyio
async def test_update_sets_and_unsets_flags_and_lists(brevo: Client) -> None:
    ada = await create(brevo, "ada@example.com", listIds=[2])
    other = (await brevo.post("/contacts/lists", json={"name": "b", "folderId": 1})).json()["id"]
    await brevo.put(
        f"/contacts/{ada}",
        json={
            "emailBlacklisted": True,
            "smsBlacklisted": True,
            "listIds": [other],
            "unlinkListIds": [2],
        },
    )
    blocked = await fetch(brevo, ada)
    await brevo.put(f"/contacts/{ada}", json={"emailBlacklisted": False})
    assert (blocked["emailBlacklisted"], blocked["smsBlacklisted"]) == (True, True)
    assert blocked["listIds"] == [other]
    assert (await fetch(brevo, ada))["emailBlacklisted"] is False


@pytest.mark.anyio
async def test_update_and_delete_of_an_unknown_contact_answer_404(brevo: Client) -> None:
    updated = await brevo.put("/contacts/nobody@example.com", json={"attributes": {}})
    deleted = await brevo.delete("/contacts/nobody@example.com")
    assert error(updated) == (404, "document_not_found", "Contact does not exist")
    assert deleted.status_code == 404


@pytest.mark.anyio
async def test_delete_removes_the_contact_and_frees_its_identifiers(brevo: Client) -> None:
    ada = await create(brevo, "ada@example.com", listIds=[2])
    assert (await brevo.delete(f"/contacts/{ada}")).status_code == 204
    assert (await brevo.get("/contacts/lists/2")).json()["totalSubscribers"] == 0
    assert await create(brevo, "ada@example.com") == ada + 1


# -- listing ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_listing_pages_newest_first_with_the_total(brevo: Client) -> None:
    ids = [await create(brevo, f"c{n}@example.com") for n in range(7)]
    page = (await brevo.get("/contacts", params={"limit": 3, "offset": 1})).json()
    oldest = (await brevo.get("/contacts", params={"limit": 2, "sort": "asc"})).json()
    beyond = (await brevo.get("/contacts", params={"offset": 50})).json()
    assert [item["id"] for item in page["contacts"]] == ids[::-1][1:4]
    assert page["count"] == 7
    assert [item["id"] for item in oldest["contacts"]] == ids[:2]
    assert beyond == {"contacts": [], "count": 7}
    assert "statistics" not in page["contacts"][0]


@pytest.mark.anyio
async def test_a_page_larger_than_1000_is_out_of_range(raw: Client) -> None:
    assert (await raw.get("/contacts", params={"limit": 1000})).status_code == 200
    response = await raw.get("/contacts", params={"limit": 1001})
    assert error(response)[:2] == (400, "out_of_range")


@pytest.mark.anyio
async def test_modified_since_sees_every_later_write(brevo: Client, clock: ManualClock) -> None:
    ada = await create(brevo, "ada@example.com")
    await create(brevo, "bob@example.com")
    clock.advance(5)
    mark = (await fetch(brevo, ada))["modifiedAt"]
    clock.advance(5)
    await brevo.put(f"/contacts/{ada}", json={"attributes": {"FIRSTNAME": "Ada"}})
    changed = await brevo.get("/contacts", params={"modifiedSince": "2025-06-15T15:06:45Z"})
    touched = (await fetch(brevo, ada))["modifiedAt"]
    assert [item["email"] for item in changed.json()["contacts"]] == ["ada@example.com"]
    assert touched > mark and touched.endswith("Z") and len(touched) == 24


@pytest.mark.anyio
async def test_every_write_moves_modified_at_even_within_a_millisecond(brevo: Client) -> None:
    ada = await create(brevo, "ada@example.com")
    before = (await fetch(brevo, ada))["modifiedAt"]
    await brevo.put(f"/contacts/{ada}", json={"attributes": {"FIRSTNAME": "A"}})
    assert (await fetch(brevo, ada))["modifiedAt"] > before


@pytest.mark.anyio
async def test_created_since_and_list_filters(
    brevo: Client, raw: Client, clock: ManualClock
) -> None:
    """listIds as repeated keys (the definition's form) or CSV (what the swagger SDKs send)."""
    other = (await brevo.post("/contacts/lists", json={"name": "b", "folderId": 1})).json()["id"]
    await create(brevo, "old@example.com", listIds=[2])
    clock.advance(60)
    await create(brevo, "new@example.com", listIds=[other])
    await create(brevo, "none@example.com")
    recent = await brevo.get("/contacts", params={"createdSince": "2025-06-15T15:07:00.000Z"})
    csv = await raw.get("/contacts", params={"listIds": f"2,{other}"})
    repeated = await brevo.get("/contacts", params=[("listIds", "2"), ("listIds", str(other))])
    in_list = await brevo.get(f"/contacts/lists/{other}/contacts")
    assert recent.json()["count"] == 2
    assert csv.json()["count"] == repeated.json()["count"] == 2
    assert [item["email"] for item in in_list.json()["contacts"]] == ["new@example.com"]


# -- lists -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_default_list_2_exists_in_folder_1(brevo: Client) -> None:
    lists = (await brevo.get("/contacts/lists")).json()
    details = (await brevo.get("/contacts/lists/2")).json()
    assert lists["lists"][0]["id"] == 2 and lists["lists"][0]["name"] == "brevo-sync"
    assert details["folderId"] == 1
    unknown = await brevo.get("/contacts/lists/999")
    assert error(unknown)[:2] == (404, "document_not_found")


@pytest.mark.anyio
async def test_adding_to_a_list_reports_success_and_failure(brevo: Client) -> None:
    await create(brevo, "ada@example.com")
    await create(brevo, "bob@example.com", listIds=[2])
    response = await brevo.post(
        "/contacts/lists/2/contacts/add",
        json={"emails": ["Ada@example.com", "bob@example.com", "ghost@example.com"]},
    )
    assert response.status_code == 201
    assert response.json() == {
        "contacts": {"success": ["Ada@example.com"], "failure": ["ghost@example.com"]}
    }


@pytest.mark.anyio
async def test_a_list_change_with_nothing_to_do_is_a_400(brevo: Client) -> None:
    ada = await create(brevo, "ada@example.com", listIds=[2])
    added = await brevo.post("/contacts/lists/2/contacts/add", json={"ids": [ada, 999]})
    removed = await brevo.post("/contacts/lists/2/contacts/remove", json={"extIds": ["none"]})
    everyone = await brevo.post("/contacts/lists/2/contacts/remove", json={"all": True})
    again = await brevo.post("/contacts/lists/2/contacts/remove", json={"all": True})
    assert error(added) == (
        400,
        "invalid_parameter",
        "Contact already in list and/or does not exist",
    )
    assert error(removed) == (
        400,
        "invalid_parameter",
        "Contact already removed from list and/or does not exist",
    )
    assert everyone.status_code == 201 and everyone.json()["contacts"]["total"] == 1
    assert error(again) == (
        400,
        "invalid_parameter",
        "Contacts already removed from list and/or does not exist",
    )


@pytest.mark.anyio
async def test_list_changes_take_one_key_and_1_to_150_items(raw: Client) -> None:
    too_many = await raw.post("/contacts/lists/2/contacts/add", json={"ids": list(range(1, 152))})
    empty = await raw.post("/contacts/lists/2/contacts/add", json={"emails": []})
    both = await raw.post(
        "/contacts/lists/2/contacts/remove", json={"emails": ["a@example.com"], "ids": [1]}
    )
    unknown_list = await raw.post("/contacts/lists/999/contacts/add", json={"ids": [1]})
    assert too_many.status_code == empty.status_code == both.status_code == 400
    assert error(too_many)[1] == "out_of_range"
    assert unknown_list.status_code == 404


@pytest.mark.anyio
async def test_lists_need_a_name_and_an_existing_folder(raw: Client) -> None:
    made = await raw.post("/contacts/lists", json={"name": "news", "folderId": 1})
    no_folder = await raw.post("/contacts/lists", json={"name": "news"})
    bad_folder = await raw.post("/contacts/lists", json={"name": "news", "folderId": 99})
    assert made.status_code == 201 and made.json()["id"] == 3
    assert error(no_folder)[:2] == (400, "missing_parameter")
    assert error(bad_folder)[2] == "Folder ID does not exist"


@pytest.mark.anyio
async def test_unknown_list_ids_on_create_are_refused(brevo: Client) -> None:
    response = await brevo.post("/contacts", json={"email": "a@example.com", "listIds": [99]})
    assert error(response)[:2] == (400, "invalid_parameter")


# -- import and processes --------------------------------------------------------------------


async def process(brevo: Client, process_id: int) -> dict[str, Any]:
    response = await brevo.get(f"/processes/{process_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.anyio
async def test_import_is_queued_processed_then_applied(brevo: Client, clock: ManualClock) -> None:
    await create(brevo, "ada@example.com", attributes={"FIRSTNAME": "Old"})
    submitted = await brevo.post(
        "/contacts/import",
        json={
            "jsonBody": [
                {"email": "ada@example.com", "attributes": {"FIRSTNAME": "Ada"}},
                {"email": "bob@example.com", "attributes": {"SMS": "+33612345678"}},
                {"email": "broken", "attributes": {}},
                {"email": "BOB@example.com", "attributes": {}},
            ],
            "listIds": [2],
        },
    )
    assert submitted.status_code == 202
    process_id = submitted.json()["processId"]
    assert (await process(brevo, process_id))["status"] == "processing"
    assert (await brevo.get("/contacts")).json()["count"] == 1
    clock.advance(0.103)  # 100 ms + 4 rows x 1 ms, minus a millisecond
    assert (await process(brevo, process_id))["status"] == "processing"
    clock.advance(0.002)
    done = await process(brevo, process_id)
    assert done["status"] == "completed" and done["completed_at"].endswith("Z")
    assert done["info"]["import"]["invalid_emails"] == 1
    assert done["info"]["import"]["duplicate_email_id"] == 1
    assert (await fetch(brevo, "ada@example.com"))["attributes"]["FIRSTNAME"] == "Ada"
    assert (await fetch(brevo, "bob@example.com"))["listIds"] == [2]


@pytest.mark.anyio
async def test_imports_wait_in_a_queue_behind_each_other(brevo: Client) -> None:
    body = {"jsonBody": [{"email": "a@example.com"}], "listIds": [2]}
    await brevo.post("/contacts/import", json=body)
    second = (await brevo.post("/contacts/import", json=body)).json()["processId"]
    assert (await process(brevo, second))["status"] == "queued"


@pytest.mark.anyio
async def test_imports_can_be_queued_for_a_set_time_before_they_start(
    brevo: Client, app: Any, clock: ManualClock
) -> None:
    app.state.config.import_queue_seconds = 120
    body = {"jsonBody": [{"email": "a@example.com"}], "listIds": [2]}
    process_id = (await brevo.post("/contacts/import", json=body)).json()["processId"]
    clock.advance(119.9)
    assert (await process(brevo, process_id))["status"] == "queued"
    assert (await brevo.get("/contacts")).json()["count"] == 0
    clock.advance(0.2)
    assert (await process(brevo, process_id))["status"] == "processing"
    clock.advance(1)
    assert (await process(brevo, process_id))["status"] == "completed"
    assert (await brevo.get("/contacts")).json()["count"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["failed", "cancelled"])
async def test_a_failed_or_cancelled_import_applies_nothing(
    brevo: Client, app: Any, clock: ManualClock, ending: str
) -> None:
    app.state.config.import_outcome = ending
    body = {"jsonBody": [{"email": "a@example.com"}], "listIds": [2]}
    process_id = (await brevo.post("/contacts/import", json=body)).json()["processId"]
    clock.advance(1)
    ended = await process(brevo, process_id)
    assert ended["status"] == ending and ended["error"] and ended["completed_at"]
    assert "info" not in ended
    assert (await brevo.get("/contacts")).json()["count"] == 0


@pytest.mark.anyio
async def test_import_info_can_come_as_the_newer_definition_types_it(
    raw: Client, app: Any, clock: ManualClock
) -> None:
    """CSV report URLs (or null) where the stored definition has counts (reference §14.11)."""
    app.state.config.process_info = "reports"
    body = {"jsonBody": [{"email": "a@example.com"}, {"email": "broken"}], "listIds": [2]}
    process_id = (await raw.post("/contacts/import", json=body)).json()["processId"]
    clock.advance(1)
    info = (await raw.get(f"/processes/{process_id}")).json()["info"]["import"]
    assert info["invalid_emails"].startswith("https://")
    assert info["duplicate_email_id"] is None


def test_import_switches_are_checked() -> None:
    config = EmulatorConfig()
    config.apply_patch({"import_queue_seconds": 120, "import_outcome": "cancelled",
                        "process_info": "reports"})
    assert (config.import_queue_seconds, config.import_outcome) == (120.0, "cancelled")
    for bad in ({"import_queue_seconds": -1}, {"import_outcome": "exploded"},
                {"process_info": "csv"}):
        with pytest.raises(ValueError):
            config.apply_patch(bad)


@pytest.mark.anyio
async def test_import_reads_semicolon_csv_and_keeps_existing_when_asked(
    brevo: Client, clock: ManualClock
) -> None:
    await brevo.post("/contacts/attributes/normal/USED_WELCOME_OFFER", json={"type": "boolean"})
    await create(brevo, "ada@example.com", attributes={"FIRSTNAME": "Keep"})
    csv = (
        "EMAIL;FIRSTNAME;SMS;USED_WELCOME_OFFER\n"
        "ada@example.com;Ada;;true\n"
        "bob@example.com;Bob;+33612345678;false\n"
    )
    submitted = await brevo.post(
        "/contacts/import",
        json={
            "fileBody": csv,
            "listIds": [2],
            "updateExistingContacts": False,
            "emailBlacklist": True,
        },
    )
    clock.advance(1)
    assert (await process(brevo, submitted.json()["processId"]))["status"] == "completed"
    ada, bob = await fetch(brevo, "ada@example.com"), await fetch(brevo, "bob@example.com")
    assert ada["attributes"] == {"FIRSTNAME": "Keep"} and ada["listIds"] == [2]
    assert bob["attributes"] == {
        "FIRSTNAME": "Bob",
        "SMS": "33612345678",
        "USED_WELCOME_OFFER": False,
    }
    assert bob["emailBlacklisted"] is True


@pytest.mark.anyio
async def test_import_needs_lists_and_processes_must_exist(raw: Client) -> None:
    no_lists = await raw.post("/contacts/import", json={"jsonBody": [{"email": "a@example.com"}]})
    unknown = await raw.get("/processes/42")
    listed = await raw.get("/processes")
    assert error(no_lists)[:2] == (400, "missing_parameter")
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "invalid_parameter", "message": "processId is invalid"}
    assert listed.json() == {"processes": [], "count": 0}


@pytest.mark.anyio
async def test_import_into_a_new_list(brevo: Client, clock: ManualClock) -> None:
    submitted = await brevo.post(
        "/contacts/import",
        json={
            "jsonBody": [{"email": "a@example.com"}],
            "newList": {"listName": "imported", "folderId": 1},
        },
    )
    clock.advance(1)
    listed = (await brevo.get("/processes")).json()
    assert listed["processes"][0]["id"] == submitted.json()["processId"]
    assert (await fetch(brevo, "a@example.com"))["listIds"] == [3]


# -- rate limits -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rate_limit_headers_are_on_every_answer(brevo: Client) -> None:
    response = await brevo.get("/contacts/nobody@example.com")
    assert response.headers["x-sib-ratelimit-limit"] == "10"
    assert response.headers["x-sib-ratelimit-remaining"] == "10"
    assert response.headers["x-sib-ratelimit-reset"] == "1"


@pytest.mark.anyio
async def test_the_eleventh_contacts_call_in_a_second_gets_429(
    brevo: Client, app: Any, clock: ManualClock
) -> None:
    app.state.config.rate_limits = True
    answers = [await brevo.get("/contacts") for _ in range(11)]
    refused = answers[-1]
    assert [a.headers["x-sib-ratelimit-remaining"] for a in answers[:10]] == [
        str(n) for n in range(9, -1, -1)
    ]
    assert refused.status_code == 429
    assert refused.json() == {"code": "too_many_requests", "message": "Too Many Requests"}
    assert "retry-after" not in refused.headers
    assert refused.headers["x-sib-ratelimit-reset"] == "1"
    clock.advance(1.01)
    assert (await brevo.get("/contacts")).status_code == 200


@pytest.mark.anyio
async def test_the_per_second_window_slides(brevo: Client, app: Any, clock: ManualClock) -> None:
    """A burst at the end of one second leaves nothing for the start of the next."""
    app.state.config.rate_limits = True
    clock.advance(0.9)
    assert all([(await brevo.get("/contacts")).status_code == 200 for _ in range(10)])
    clock.advance(0.2)
    assert (await brevo.get("/contacts")).status_code == 429
    clock.advance(0.85)
    assert (await brevo.get("/contacts")).status_code == 200


@pytest.mark.anyio
async def test_other_endpoints_share_100_calls_an_hour(
    brevo: Client, app: Any, clock: ManualClock
) -> None:
    app.state.config.rate_limits = True
    app.state.config.other_rph = 3
    answers = [await brevo.get("/processes") for _ in range(4)]
    contacts = await brevo.get("/contacts")
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-sib-ratelimit-limit"] == "3"
    assert int(answers[3].headers["x-sib-ratelimit-reset"]) == 3600
    assert contacts.status_code == 200
    clock.advance(3600)
    assert (await brevo.get("/processes")).status_code == 200


@pytest.mark.anyio
async def test_the_hourly_contacts_budget_applies_too(
    brevo: Client, app: Any, clock: ManualClock
) -> None:
    app.state.config.rate_limits = True
    app.state.config.contacts_rph = 15
    statuses = []
    for _ in range(20):
        statuses.append((await brevo.get("/contacts")).status_code)
        clock.advance(0.2)
    assert statuses.count(200) == 15
    assert statuses[-1] == 429


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_error_rate_answers_5xx_before_doing_anything(brevo: Client, app: Any) -> None:
    app.state.config.error_rate = 1.0
    statuses = {
        (await brevo.post("/contacts", json={"email": "a@example.com"})).status_code
        for _ in range(20)
    }
    assert statuses <= {502, 503} and statuses
    assert app.state.store.count() == 0


@pytest.mark.anyio
async def test_timeout_rate_hangs_then_answers_504(brevo: Client, app: Any) -> None:
    """Long enough for a client with a shorter timeout to give up; nothing is applied."""
    app.state.config.timeout_rate = 1.0
    app.state.config.timeout_seconds = 0.05
    started = time.perf_counter()
    response = await brevo.post("/contacts", json={"email": "a@example.com"})
    assert response.status_code == 504
    assert time.perf_counter() - started >= 0.05
    assert app.state.store.count() == 0


@pytest.mark.anyio
async def test_a_storm_answers_429_to_everything_for_its_duration(
    brevo: Client, app: Any, clock: ManualClock
) -> None:
    app.state.config.storm_rate = 1.0
    app.state.config.storm_seconds = 2.0
    first = await brevo.get("/contacts")
    app.state.config.storm_rate = 0.0
    clock.advance(1.5)
    during = await brevo.get("/processes")
    clock.advance(0.6)
    after = await brevo.get("/contacts")
    assert first.status_code == during.status_code == 429
    assert first.headers["x-sib-ratelimit-remaining"] == "0"
    assert first.headers["x-sib-ratelimit-reset"] == "2"
    assert after.status_code == 200


@pytest.mark.anyio
async def test_latency_is_added_to_every_call(brevo: Client, app: Any) -> None:
    app.state.config.latency_ms = 30.0
    started = time.perf_counter()
    await brevo.get("/contacts")
    assert time.perf_counter() - started >= 0.03


@pytest.mark.anyio
async def test_seeded_faults_repeat() -> None:
    async def statuses() -> list[int]:
        app = create_app(EmulatorConfig(error_rate=0.5, seed=11))
        async with _client(app, **{"api-key": KEY}) as client:
            return [(await client.get("/contacts")).status_code for _ in range(20)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert 200 in first and set(first) - {200}


# -- control endpoints and call counting -----------------------------------------------------


@pytest.fixture
async def control(app: Any) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://brevo"
    ) as client:
        yield client


@pytest.mark.anyio
async def test_calls_are_counted_by_method_template_and_status(
    brevo: Client, control: Client, app: Any
) -> None:
    await create(brevo, "ada@example.com")
    await brevo.get("/contacts/ada@example.com")
    await brevo.get("/contacts/nobody@example.com")
    calls = (await control.get("/_emulator/calls")).json()
    assert app.state.calls[("GET", "/v3/contacts/{identifier}", 404)] == 1
    assert calls["total"] == 3
    assert {"method": "POST", "path": "/v3/contacts", "status": 201, "count": 1} in calls["calls"]


@pytest.mark.anyio
async def test_control_endpoints_show_and_steer_the_account(
    brevo: Client, control: Client, app: Any
) -> None:
    ada = await create(brevo, "ada@example.com")
    before = (await fetch(brevo, ada))["modifiedAt"]
    listed = (await control.get("/_emulator/contacts")).json()
    blocked = await control.post(f"/_emulator/contacts/{ada}/blocklist")
    patched = await control.patch("/_emulator/config", json={"error_rate": 0.2})
    refused = await control.patch("/_emulator/config", json={"error_rate": 2})
    assert listed["count"] == 1 and listed["contacts"][0]["email"] == "ada@example.com"
    assert blocked.json()["emailBlacklisted"] is True
    assert blocked.json()["modifiedAt"] > before
    assert patched.json()["error_rate"] == 0.2 and app.state.config.error_rate == 0.2
    assert refused.status_code == 400 and app.state.config.error_rate == 0.2
    assert (await control.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.anyio
async def test_reset_empties_the_account_but_keeps_the_defaults(
    brevo: Client, control: Client, app: Any
) -> None:
    await brevo.post("/contacts/lists", json={"name": "extra", "folderId": 1})
    await create(brevo, "ada@example.com", listIds=[2])
    assert (await control.post("/_emulator/reset")).status_code == 200
    assert app.state.store.count() == 0 and sum(app.state.calls.values()) == 0
    assert [item["id"] for item in app.state.store.lists()] == [2]
    assert await create(brevo, "bob@example.com") == 1


@pytest.mark.anyio
async def test_another_accounts_people_can_be_put_in_directly(
    brevo: Client, control: Client, app: Any
) -> None:
    """Strangers added by a test take the account's ids from 1, as another account's would,
    are validated as POST /contacts bodies, and are not counted as calls."""
    added = await control.post("/_emulator/contacts", json={"contacts": [
        {"email": "dora@example.com", "attributes": {"FIRSTNAME": "Dóra"}, "listIds": [2]},
        {"email": "eve@example.com"}]})
    clash = await control.post("/_emulator/contacts", json={"contacts": [
        {"email": "DORA@example.com"}]})
    invalid = await control.post("/_emulator/contacts", json={"contacts": [{"email": "nope"}]})
    assert added.status_code == 201 and added.json() == {"ids": [1, 2]}
    assert clash.status_code == 400 and invalid.status_code == 400
    assert app.state.store.count() == 2 and sum(app.state.calls.values()) == 0
    dora = await fetch(brevo, 1)
    assert dora["email"] == "dora@example.com" and dora["listIds"] == [2]
    assert dora["attributes"] == {"FIRSTNAME": "Dóra"}


@pytest.mark.anyio
async def test_deleting_in_the_ui_makes_the_contact_unknown(brevo: Client, control: Client) -> None:
    ada = await create(brevo, "ada@example.com")
    assert (await control.delete(f"/_emulator/contacts/{ada}")).status_code == 204
    assert (await brevo.get(f"/contacts/{ada}")).status_code == 404
    assert (await control.delete(f"/_emulator/contacts/{ada}")).status_code == 404


CONTROL_CALLS = [
    ("GET", "/_emulator/contacts", None),
    ("GET", "/_emulator/calls", None),
    ("GET", "/_emulator/config", None),
    ("PATCH", "/_emulator/config", {"latency_ms": 0}),
    ("POST", "/_emulator/reset", None),
    ("POST", "/_emulator/contacts/1/blocklist", None),
    ("DELETE", "/_emulator/contacts/1", None),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS)
async def test_with_a_key_configured_the_control_routes_ask_for_it(
    app: Any, control: Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    app.state.config.api_key = "the-right-key"
    missing = await control.request(method, path, json=body)
    wrong = await control.request(method, path, json=body, headers={"api-key": "another"})
    odd = await control.request(method, path, json=body, headers=[(b"api-key", b"\xff\xfe")])
    right = await control.request(method, path, json=body, headers={"api-key": "the-right-key"})
    assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
    assert wrong.status_code == 401 and wrong.json()["message"] == "Key not found"
    assert odd.status_code == 401
    assert right.status_code in (200, 204, 404)
    assert (await control.get("/healthz")).status_code == 200  # probes need no key


@pytest.mark.anyio
async def test_the_configured_key_is_never_shown(app: Any, control: Client) -> None:
    key = {"api-key": "the-right-key"}
    app.state.config.api_key = "the-right-key"
    shown = await control.get("/_emulator/config", headers=key)
    patched = await control.patch("/_emulator/config", json={"latency_ms": 1}, headers=key)
    rotated = await control.patch(
        "/_emulator/config", json={"api_key": "a-new-key"}, headers=key
    )
    for answer in (shown, patched, rotated):
        assert answer.status_code == 200
        assert answer.json()["api_key"] == "**********"
        assert "the-right-key" not in answer.text and "a-new-key" not in answer.text
    assert app.state.config.api_key == "a-new-key"
    assert (await control.get("/_emulator/config", headers=key)).status_code == 401
    app.state.config.api_key = None
    assert (await control.get("/_emulator/config")).json()["api_key"] is None


@pytest.mark.anyio
async def test_the_store_answers_in_process(brevo: Client, app: Any) -> None:
    await create(brevo, "Ada@example.com", attributes={"FIRSTNAME": "Ada"})
    store = app.state.store
    assert store.count() == 1
    assert store.get_by_email("ADA@example.com")["attributes"] == {"FIRSTNAME": "Ada"}
    assert store.get_by_email("nobody@example.com") is None
    assert store.contacts()[0]["email"] == "ada@example.com"
