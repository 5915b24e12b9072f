"""The emulator's account refusals (reference §14.3), each behind a switch: a key revoked or
rotated at run time, "Authorized IPs", 402 and 403 for the whole account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from brevo_sync.emulator import EmulatorConfig, create_app

OLD, NEW = "xkeysib-old", "xkeysib-new"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app() -> Any:
    return create_app(EmulatorConfig(api_key=OLD))


def _client(app: Any, key: str, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://brevo",
                             headers={"api-key": key})


@pytest.fixture
async def control(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The control routes ask for the emulator's configured key, as /v3 does."""
    async with _client(app, OLD) as client:
        yield client


async def _answer(app: Any, key: str, address: str = "127.0.0.1") -> tuple[int, dict[str, Any]]:
    async with _client(app, key, address) as brevo:
        response = await brevo.get("/v3/contacts", params={"limit": 1})
    return response.status_code, response.json()


@pytest.mark.anyio
async def test_a_key_revoked_then_rotated_at_run_time(app: Any, control: Any) -> None:
    assert (await _answer(app, OLD))[0] == 200
    revoked = await control.patch("/_emulator/config", json={"revoked_keys": [OLD]})
    assert revoked.status_code == 200 and revoked.json()["revoked_keys"] == [OLD]
    assert await _answer(app, OLD) == (401, {"code": "unauthorized", "message": "Key not found"})
    await control.patch("/_emulator/config", json={"api_key": NEW})
    assert (await _answer(app, NEW))[0] == 200
    assert (await _answer(app, OLD))[0] == 401


@pytest.mark.anyio
async def test_a_revoked_key_is_refused_even_when_any_key_would_do() -> None:
    app = create_app(EmulatorConfig())
    async with _client(app, "") as control:
        await control.patch("/_emulator/config", json={"revoked_keys": [OLD]})
    assert (await _answer(app, OLD))[0] == 401
    assert (await _answer(app, NEW))[0] == 200


@pytest.mark.anyio
async def test_an_address_outside_authorized_ips_is_refused_with_brevos_message(
        app: Any, control: Any) -> None:
    await control.patch("/_emulator/config", json={"authorized_ips": ["203.0.113.7"]})
    status, body = await _answer(app, OLD, "198.51.100.4")
    assert status == 401 and body["code"] == "unauthorized"
    assert "unrecognised IP address 198.51.100.4" in body["message"]
    assert "authorised_ips" in body["message"]
    assert (await _answer(app, OLD, "203.0.113.7"))[0] == 200
    # The key is checked first: a wrong key from a good address is still "Key not found".
    assert (await _answer(app, NEW, "203.0.113.7"))[1]["message"] == "Key not found"


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "status"), [("not_enough_credits", 402),
                                              ("permission_denied", 403),
                                              ("account_under_validation", 403)])
async def test_an_account_refusal_answers_every_call(
        app: Any, control: Any, mode: str, status: int) -> None:
    await control.patch("/_emulator/config", json={"account_refusal": mode})
    answered, body = await _answer(app, OLD)
    assert (answered, body["code"]) == (status, mode)
    async with _client(app, OLD) as brevo:
        created = await brevo.post("/v3/contacts", json={"email": "ada@example.com"})
    assert created.status_code == status and app.state.store.count() == 0
    await control.patch("/_emulator/config", json={"account_refusal": None})
    assert (await _answer(app, OLD))[0] == 200


@pytest.mark.anyio
@pytest.mark.parametrize("patch", [{"revoked_keys": "k"}, {"revoked_keys": [""]},
                                   {"authorized_ips": [1]}, {"account_refusal": "broke"}])
async def test_bad_switch_values_change_nothing(app: Any, control: Any,
                                                patch: dict[str, Any]) -> None:
    before = app.state.config.as_dict()
    assert (await control.patch("/_emulator/config", json=patch)).status_code == 400
    assert app.state.config.as_dict() == before
