"""The emulator's account setups and people's choices (reference §14.4-6), each behind a switch:
a French account, per-list unsubscription, the person's own unsubscriptions, and imports that
keep a true over a false."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from brevo_sync.emulator import EmulatorConfig, ManualClock, create_app
from tests.support.openapi_check import OpenAPIConformance

pytestmark = pytest.mark.anyio

KEY = "xkeysib-emulator-people"
Client = httpx.AsyncClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig(import_base_ms=10.0, import_ms_per_contact=0.0)


@pytest.fixture
def app(config: EmulatorConfig, clock: ManualClock) -> Any:
    return create_app(config, clock=clock)


@pytest.fixture
def checked(app: Any) -> Iterator[OpenAPIConformance]:
    conformance = OpenAPIConformance(app)
    yield conformance
    assert conformance.violations == []


@pytest.fixture
async def brevo(checked: OpenAPIConformance) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked),
                                 base_url="http://brevo/v3", headers={"api-key": KEY}) as client:
        yield client


@pytest.fixture
async def control(app: Any) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://brevo/_emulator") as client:
        yield client


async def create(brevo: Client, email: str, **fields: Any) -> int:
    response = await brevo.post("/contacts", json={"email": email, **fields})
    assert response.status_code == 201, response.text
    contact_id: int = response.json()["id"]
    return contact_id


async def fetch(brevo: Client, identifier: str | int) -> dict[str, Any]:
    response = await brevo.get(f"/contacts/{identifier}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def attribute_names(brevo: Client) -> set[str]:
    return {a["name"] for a in (await brevo.get("/contacts/attributes")).json()["attributes"]}


async def test_a_french_account_has_nom_and_prenom_and_ignores_firstname(
        config: EmulatorConfig, clock: ManualClock) -> None:
    config.account_language = "fr"
    app = create_app(config, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=OpenAPIConformance(app)),
                                 base_url="http://brevo/v3", headers={"api-key": KEY}) as brevo:
        assert await attribute_names(brevo) == {"EMAIL", "NOM", "PRENOM", "SMS"}
        contact_id = await create(brevo, "ada@example.com",
                                  attributes={"FIRSTNAME": "Ada", "PRENOM": "Ada", "NOM": "King"})
        # As Brevo: a value for an attribute the account lacks is dropped without a word.
        assert (await fetch(brevo, contact_id))["attributes"] == {"PRENOM": "Ada", "NOM": "King"}


async def test_the_account_language_applies_again_on_a_reset_with_attributes(
        app: Any, brevo: Client, control: Client) -> None:
    assert "FIRSTNAME" in await attribute_names(brevo)
    patched = await control.patch("/config", json={"account_language": "fr"})
    assert patched.status_code == 200
    await control.post("/reset", params={"attributes": "true"})
    assert await attribute_names(brevo) == {"EMAIL", "NOM", "PRENOM", "SMS"}
    bad = await control.patch("/config", json={"account_language": "de"})
    assert bad.status_code == 400


async def test_per_list_unsubscription_needs_its_switch(brevo: Client, control: Client) -> None:
    contact_id = await create(brevo, "ada@example.com", listIds=[2])
    refused = await control.post(f"/contacts/{contact_id}/unsubscribe", json={"listId": 2})
    assert refused.status_code == 400
    assert (await fetch(brevo, contact_id))["listIds"] == [2]


async def test_leaving_a_list_shows_in_list_unsubscribed_and_a_re_add_resubscribes(
        app: Any, brevo: Client, control: Client) -> None:
    app.state.config.list_unsubscription = True
    contact_id = await create(brevo, "ada@example.com", listIds=[2])
    left = await control.post(f"/contacts/{contact_id}/unsubscribe", json={"listId": 2})
    assert left.status_code == 200
    held = await fetch(brevo, contact_id)
    assert held["listIds"] == [] and held["listUnsubscribed"] == [2]
    assert not held["emailBlacklisted"]
    own = held["statistics"]["unsubscriptions"]["userUnsubscription"]
    assert len(own) == 1 and own[0]["campaignId"] == 1 and own[0]["eventTime"].endswith("Z")
    listed = (await brevo.get("/contacts")).json()["contacts"][0]
    assert listed["listUnsubscribed"] == [2]
    # Adding them back, by any route, subscribes them again: what the sync must never do.
    await brevo.put(f"/contacts/{contact_id}", json={"listIds": [2]})
    again = await fetch(brevo, contact_id)
    assert again["listIds"] == [2] and "listUnsubscribed" not in again


async def test_an_upsert_with_the_list_resubscribes_too(app: Any, brevo: Client,
                                                       control: Client) -> None:
    app.state.config.list_unsubscription = True
    contact_id = await create(brevo, "ada@example.com", listIds=[2])
    await control.post(f"/contacts/{contact_id}/unsubscribe", json={"listId": 2})
    upsert = await brevo.post("/contacts", json={"email": "ada@example.com", "listIds": [2],
                                                 "updateEnabled": True})
    assert upsert.status_code == 204
    assert (await fetch(brevo, contact_id))["listIds"] == [2]


async def test_the_persons_own_unsubscription_blocklists_and_is_in_the_statistics(
        brevo: Client, control: Client) -> None:
    contact_id = await create(brevo, "ada@example.com", listIds=[2])
    assert (await fetch(brevo, contact_id))["statistics"]["unsubscriptions"] == {
        "userUnsubscription": [], "adminUnsubscription": []}
    done = await control.post(f"/contacts/{contact_id}/unsubscribe", json={"campaignId": 7})
    assert done.status_code == 200
    held = await fetch(brevo, contact_id)
    assert held["emailBlacklisted"] and held["listIds"] == [2]
    assert held["statistics"]["unsubscriptions"]["userUnsubscription"][0]["campaignId"] == 7


async def import_and_settle(brevo: Client, clock: ManualClock, rows: list[dict[str, Any]]
                            ) -> None:
    submitted = await brevo.post("/contacts/import", json={"jsonBody": rows, "listIds": [2]})
    assert submitted.status_code == 202, submitted.text
    clock.advance(1.0)
    done = await brevo.get(f"/processes/{submitted.json()['processId']}")
    assert done.json()["status"] == "completed"


@pytest.mark.parametrize(("switch", "kept"), [(False, False), (True, True)])
async def test_an_import_false_over_a_true_is_kept_only_with_the_switch(
        app: Any, brevo: Client, clock: ManualClock, switch: bool, kept: bool) -> None:
    await brevo.post("/contacts/attributes/normal/OFFER", json={"type": "boolean"})
    app.state.config.import_false_keeps_true = switch
    contact_id = await create(brevo, "ada@example.com", attributes={"OFFER": True})
    await import_and_settle(brevo, clock, [
        {"email": "ada@example.com", "attributes": {"OFFER": False, "FIRSTNAME": "Ada"}},
        {"email": "bob@example.com", "attributes": {"OFFER": False}},
    ])
    ada = (await fetch(brevo, contact_id))["attributes"]
    assert ada["OFFER"] is kept and ada["FIRSTNAME"] == "Ada"
    assert (await fetch(brevo, "bob@example.com"))["attributes"]["OFFER"] is False
    # A false sent one by one is a false, switch or not.
    await brevo.put(f"/contacts/{contact_id}", json={"attributes": {"OFFER": False}})
    assert (await fetch(brevo, contact_id))["attributes"]["OFFER"] is False
