"""The emulator's webhooks: registered as Brevo's definition says, delivered with the bearer,
and its switches (delay, duplicates, reordering)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from brevo_sync.emulator import EmulatorConfig
from brevo_sync.emulator.app import create_app
from tests.support.openapi_check import OpenAPIConformance

pytestmark = pytest.mark.anyio

KEY = {"api-key": "xkeysib-test"}
HOOK = {"url": "https://receiver.test/api/webhooks/brevo", "type": "marketing",
        "description": "test", "events": ["unsubscribed", "contactDeleted", "contactUpdated",
                                          "hardBounce"],
        "batched": False, "auth": {"type": "bearer", "token": "tok"}}


@pytest.fixture
def app() -> Any:
    return create_app(EmulatorConfig(seed=1))


@pytest.fixture
def received(app: Any) -> list[tuple[dict[str, str], Any]]:
    got: list[tuple[dict[str, str], Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append((dict(request.headers), json.loads(request.content)))
        return httpx.Response(200, json={})

    app.state.webhooks.transport = httpx.MockTransport(handler)
    return got


@pytest.fixture
async def api(app: Any) -> Any:
    checked = OpenAPIConformance(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked),
                                 base_url="http://brevo.test", headers=KEY) as client:
        yield client
    assert checked.violations == []


async def settled(app: Any) -> None:
    deadline = time.monotonic() + 5
    while app.state.webhooks.busy:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def contact(api: httpx.AsyncClient, email: str = "ann@example.com") -> int:
    answer = await api.post("/v3/contacts", json={"email": email})
    return int(answer.json()["id"])


async def test_webhooks_are_created_listed_updated_and_deleted(api: httpx.AsyncClient) -> None:
    created = await api.post("/v3/webhooks", json=HOOK)
    assert created.status_code == 201
    hook_id = created.json()["id"]
    listed = (await api.get("/v3/webhooks", params={"type": "marketing"})).json()["webhooks"]
    assert [h["id"] for h in listed] == [hook_id] and listed[0]["auth"]["token"] == "tok"
    assert (await api.get("/v3/webhooks")).json()["webhooks"] == []  # transactional by default
    assert (await api.put(f"/v3/webhooks/{hook_id}", json={"batched": True})).status_code == 204
    assert (await api.get(f"/v3/webhooks/{hook_id}")).json()["batched"] is True
    assert (await api.delete(f"/v3/webhooks/{hook_id}")).status_code == 204
    assert (await api.get(f"/v3/webhooks/{hook_id}")).status_code == 404


@pytest.mark.parametrize("body", [{"events": ["unsubscribed"]}, {"url": "https://x"},
                                  {**HOOK, "events": ["nonsense"]}, {**HOOK, "url": "x"}])
async def test_a_bad_definition_is_a_400(app: Any, body: dict[str, Any]) -> None:
    # Off the definition on purpose, so not through the conformance check.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://brevo.test", headers=KEY) as raw:
        answer = await raw.post("/v3/webhooks", json=body)
    assert answer.status_code == 400 and answer.json()["code"] in ("missing_parameter",
                                                                    "invalid_parameter")


async def test_an_unsubscribe_is_delivered_with_the_bearer_in_brevos_shape(
        api: httpx.AsyncClient, app: Any, received: list[Any]) -> None:
    await api.post("/v3/webhooks", json=HOOK)
    contact_id = await contact(api)
    await api.post(f"/_emulator/contacts/{contact_id}/unsubscribe", json={})
    await settled(app)
    [(headers, body)] = received
    assert headers["authorization"] == "Bearer tok"
    assert body["event"] == "unsubscribe" and body["email"] == "ann@example.com"
    assert abs(body["ts_event"] - time.time()) < 5 and "date_event" in body


async def test_switches_duplicate_and_reorder_held_deliveries(
        api: httpx.AsyncClient, app: Any, received: list[Any]) -> None:
    await api.post("/v3/webhooks", json={**HOOK, "batched": True})
    await api.patch("/_emulator/config", json={"webhook_delay_ms": 100, "webhook_duplicates": 1,
                                                "webhook_reorder": True})
    first, second = await contact(api, "a@example.com"), await contact(api, "b@example.com")
    await api.post(f"/_emulator/contacts/{first}/hard-bounce")
    await api.post(f"/_emulator/contacts/{second}/update", json={"attributes": {"X": 1}})
    await api.delete(f"/_emulator/contacts/{first}")
    await settled(app)
    assert len(received) == 2 and received[0][1] == received[1][1]
    events = [e["event"] for e in received[0][1]]
    assert events == ["contact_deleted", "contact_updated", "hard_bounce"]
