"""Every request the client sends is valid under Brevo's published OpenAPI definition."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from brevo_sync.brevo import BrevoClient

pytestmark = pytest.mark.anyio

SPEC_PATH = Path("/work/shared/reference/brevo-openapi-v3.yaml")
# reference §12.13: the list add/remove bodies are a oneOf of three schemas with no required
# keys, so a strict validator rejects every valid body; they are checked by hand instead.
LIST_MEMBERSHIP = ("/contacts/add", "/contacts/remove")

Call = Callable[[BrevoClient], Awaitable[object]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@cache
def brevo_spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


class SpecRequest:
    """An httpx request seen through openapi-core's Request protocol."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(request.url.params.multi_items()),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return "https://api.brevo.com"

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return str(self._request.headers.get("content-type", "")).lower()


def answer(request: httpx.Request) -> httpx.Response:
    """Plausible Brevo answers, enough for every client method to finish."""
    path, method = request.url.path, request.method
    contact = {
        "id": 1,
        "email": "a@x.com",
        "emailBlacklisted": False,
        "smsBlacklisted": False,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "modifiedAt": "2024-01-01T00:00:00.000Z",
        "attributes": {},
        "listIds": [],
    }
    if path.endswith(LIST_MEMBERSHIP):
        return httpx.Response(201, json={"contacts": {"success": [], "failure": []}})
    if path == "/v3/contacts/import":
        return httpx.Response(202, json={"processId": 5})
    if path.startswith("/v3/processes/"):
        return httpx.Response(200, json={"id": 5, "name": "IMPORTUSER", "status": "completed"})
    if path == "/v3/contacts/attributes":
        return httpx.Response(200, json={"attributes": []})
    if path == "/v3/contacts/lists" and method == "GET":
        return httpx.Response(200, json={"lists": [{"id": 2, "name": "Customers"}], "count": 1})
    if path == "/v3/contacts" and method == "GET":
        return httpx.Response(200, json={"contacts": [contact], "count": 1})
    if method == "GET":
        return httpx.Response(200, json=contact)
    if method == "POST" and path == "/v3/contacts":
        return httpx.Response(201, json={"id": 1})
    if method == "POST":
        return httpx.Response(201)
    return httpx.Response(204)


CALLS: dict[str, Call] = {
    "upsert": lambda c: c.upsert_contact(
        "A+b@x.com",
        {"FIRSTNAME": "A", "SMS": "+33612345678"},
        list_ids=[2],
        email_blacklisted=False,
    ),
    "create": lambda c: c.create_contact("a@x.com", {"USED_WELCOME_OFFER": True}),
    "get by email": lambda c: c.get_contact_by_email("a+b@x.com"),
    "get by id": lambda c: c.get_contact_by_id(1),
    "update": lambda c: c.update_contact(
        1,
        attributes={"FIRSTNAME": "B"},
        email="b@x.com",
        email_blacklisted=True,
        list_ids=[2],
        unlink_list_ids=[3],
    ),
    "delete": lambda c: c.delete_contact(1),
    "list": lambda c: c.list_contacts(
        limit=1000, offset=1000, modified_since=datetime(2024, 1, 1, tzinfo=UTC)
    ),
    "remove from list": lambda c: c.remove_from_list(2, ids=[1]),
    "import": lambda c: c.import_contacts(
        [{"email": "a@x.com", "attributes": {"FIRSTNAME": "A"}}], list_ids=[2]
    ),
    "process": lambda c: c.get_process(5),
    "attributes": lambda c: c.list_attributes(),
    "create attribute": lambda c: c.create_attribute("USED_WELCOME_OFFER", "boolean"),
    "list processes": lambda c: c.list_processes(limit=10),
    "list names": lambda c: c.list_names(),
}


@pytest.mark.parametrize("name", CALLS)
async def test_requests_match_brevos_definition(name: str) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    async with BrevoClient(
        "xkeysib-spec", "https://api.brevo.com/v3", transport=httpx.MockTransport(record)
    ) as client:
        await CALLS[name](client)
    assert sent
    for request in sent:
        if request.url.path.endswith(LIST_MEMBERSHIP):
            body: dict[str, Any] = json.loads(request.content)
            assert len(body) == 1 and next(iter(body)) in ("emails", "ids", "extIds")
            assert 1 <= len(next(iter(body.values()))) <= 150
            continue
        brevo_spec().validate_request(SpecRequest(request))
