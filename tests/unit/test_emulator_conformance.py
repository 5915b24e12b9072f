"""The OpenAPI conformance check itself: it passes what Brevo's definition allows, and only that."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brevo_sync.emulator import EmulatorConfig, create_app
from tests.support.openapi_check import OpenAPIConformance

KEY = {"api-key": "xkeysib-check"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def checked() -> OpenAPIConformance:
    return OpenAPIConformance(create_app(EmulatorConfig()))


@pytest.fixture
async def client(checked: OpenAPIConformance) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=checked), base_url="http://brevo/v3", headers=KEY
    ) as http:
        yield http


@pytest.mark.anyio
async def test_good_requests_pass(client: httpx.AsyncClient, checked: OpenAPIConformance) -> None:
    await client.post(
        "/contacts",
        json={"email": "ada@example.com", "attributes": {"SMS": "+33612345678"}, "listIds": [2]},
    )
    await client.post("/contacts", json={"email": "ada@example.com", "updateEnabled": True})
    await client.get("/contacts/ada@example.com")
    await client.put(
        "/contacts/1", params={"identifierType": "contact_id"}, json={"attributes": {"X": 1}}
    )
    await client.get("/contacts", params={"limit": 1000, "modifiedSince": "2025-01-01T00:00:00Z"})
    await client.post("/contacts/lists/2/contacts/add", json={"ids": [1]})
    await client.post("/contacts/lists/2/contacts/remove", json={"emails": ["ada@example.com"]})
    await client.post("/contacts/lists/2/contacts/remove", json={"all": True})
    await client.post(
        "/contacts/import", json={"jsonBody": [{"email": "b@example.com"}], "listIds": [2]}
    )
    await client.get("/processes/1")
    assert checked.violations == []
    assert checked.checked == 10


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "body", "reason"),
    [
        ("post", "/contacts", {"email": 42}, "is not of type 'string'"),
        ("post", "/contacts", {"email": "a@example.com", "listIds": ["2"]}, "not of type"),
        ("post", "/contacts/lists", {"name": "no folder"}, "'folderId' is a required property"),
        ("post", "/contacts/lists/2/contacts/add", {"emails": ["a@b.co"], "ids": [1]}, ""),
        ("post", "/contacts/lists/2/contacts/add", {}, ""),
        ("post", "/contacts/lists/2/contacts/add", {"ids": list(range(1, 152))}, ""),
        ("put", "/contacts/1", {"emailBlacklisted": "yes"}, "is not of type 'boolean'"),
        ("get", "/contacts?limit=1001", None, "greater than the maximum of 1000"),
        ("get", "/contacts/1?identifierType=uuid", None, "identifierType"),
        ("get", "/segments", None, "Path not found"),
    ],
)
async def test_malformed_requests_are_reported(
    client: httpx.AsyncClient,
    checked: OpenAPIConformance,
    method: str,
    path: str,
    body: Any,
    reason: str,
) -> None:
    await client.request(method, path, json=body)
    requests = [item for item in checked.violations if item.startswith("request")]
    assert requests, checked.violations
    assert reason in requests[0]


@pytest.mark.anyio
async def test_a_missing_api_key_is_reported(checked: OpenAPIConformance) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=checked), base_url="http://brevo/v3"
    ) as anonymous:
        await anonymous.get("/contacts")
    assert len(checked.violations) == 1 and "Security" in checked.violations[0]


def _answering(status: int, body: Any) -> OpenAPIConformance:
    """The check around an app that answers every route with `status` and `body`."""

    async def endpoint(request: Request) -> Response:
        if body is None:
            return Response(status_code=status)
        if isinstance(body, bytes):
            return Response(body, status_code=status, media_type="text/html")
        return JSONResponse(body, status_code=status)

    paths = ["/v3/contacts", "/v3/contacts/{identifier}", "/v3/processes/{processId}"]
    methods = ["GET", "POST", "PUT"]
    return OpenAPIConformance(
        Starlette(routes=[Route(p, endpoint, methods=methods) for p in paths])
    )


async def _call(checked: OpenAPIConformance, method: str, path: str, body: Any = None) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=checked), base_url="http://brevo/v3", headers=KEY
    ) as http:
        await http.request(method, path, json=body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body", "method", "path"),
    [
        (200, {"contacts": [{"id": "one"}], "count": 1}, "GET", "/contacts"),
        (200, {"contacts": []}, "GET", "/contacts"),
        (201, {"id": "x"}, "POST", "/contacts"),
        (400, {"message": "no code"}, "POST", "/contacts"),
        (409, {"code": "conflict", "message": "undeclared"}, "GET", "/contacts"),
        (429, {"code": "too_many_requests"}, "GET", "/contacts/1"),
        (204, {"unexpected": "body"}, "PUT", "/contacts/1"),
        (200, {"id": 1, "name": "IMPORTUSER", "status": "running"}, "GET", "/processes/1"),
    ],
)
async def test_answers_off_the_definition_are_reported(
    status: int, body: Any, method: str, path: str
) -> None:
    checked = _answering(status, body)
    request_body = {"email": "a@example.com"} if method != "GET" else None
    await _call(checked, method, path, request_body)
    assert [item for item in checked.violations if item.startswith("response")], json.dumps(
        checked.violations
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body", "method", "path"),
    [
        (429, {"code": "too_many_requests", "message": "Too Many Requests"}, "GET", "/contacts/1"),
        (401, {"code": "unauthorized", "message": "Key not found"}, "PUT", "/contacts/1"),
        (204, None, "PUT", "/contacts/1"),
        (502, b"<html>bad gateway</html>", "GET", "/contacts"),
    ],
)
async def test_tolerated_deviations_pass(status: int, body: Any, method: str, path: str) -> None:
    checked = _answering(status, body)
    request_body = {"emailBlacklisted": True} if method == "PUT" else None
    await _call(checked, method, path, request_body)
    assert checked.violations == []
