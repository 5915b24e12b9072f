"""BrevoClient against scripted responses (httpx.MockTransport), on a fake clock."""

from __future__ import annotations

import json
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from brevo_sync.brevo import (
    BrevoClient,
    BrevoError,
    BrevoNotFoundError,
    BrevoPermanentError,
    BrevoRateLimitedError,
    BrevoTransientError,
    RateLimiter,
    is_duplicate_sms,
)
from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio

API_KEY = "xkeysib-0123456789abcdef0123456789abcdef-TopSecret"
BASE_URL = "https://brevo.test/v3"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"



class Script:
    """Answers requests with queued replies, in order, and keeps what was sent."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def target(self, index: int = -1) -> str:
        """Path and query exactly as sent (still percent-encoded)."""
        return self.requests[index].url.raw_path.decode()


def reply(status: int, body: object = None, **headers: str) -> httpx.Response:
    header_list = [(k.replace("_", "-"), v) for k, v in headers.items()]
    if body is None:
        return httpx.Response(status, headers=header_list)
    return httpx.Response(status, json=body, headers=header_list)


def contact_json(contact_id: int, email: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": contact_id,
        "email": email,
        "emailBlacklisted": False,
        "smsBlacklisted": False,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "modifiedAt": "2024-01-02T00:00:00.000+01:00",
        "attributes": {},
        "listIds": [],
        **extra,
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def connect(clock: FakeClock) -> AsyncIterator[Callable[..., BrevoClient]]:
    """Factory: a client talking to a Script, on the fake clock, with mid-range jitter."""
    made: list[BrevoClient] = []

    def make(script: Script, **options: Any) -> BrevoClient:
        limiter = RateLimiter(clock=clock, sleep=clock.sleep)
        client = BrevoClient(
            API_KEY,
            BASE_URL,
            limiter=limiter,
            transport=httpx.MockTransport(script),
            sleep=clock.sleep,
            clock=clock,
            rng=lambda: 0.5,
            **options,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


# --- requests on the wire -----------------------------------------------------------------


async def test_every_call_sends_key_and_json_headers(connect: Callable[..., BrevoClient]) -> None:
    script = Script(reply(201, {"id": 7}))
    async with connect(script) as client:
        await client.upsert_contact("a@x.com", {"FIRSTNAME": "Ann"})
    sent = script.requests[0]
    assert sent.headers["api-key"] == API_KEY
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-type"] == "application/json"
    assert str(sent.url) == f"{BASE_URL}/contacts"


async def test_upsert_created_returns_the_new_id(connect: Callable[..., BrevoClient]) -> None:
    """201 carries the id: one call, no follow-up."""
    script = Script(reply(201, {"id": 21}))
    client = connect(script)
    contact_id = await client.upsert_contact(
        "  Ann@X.com ", {"FIRSTNAME": "Ann"}, list_ids=[3], email_blacklisted=False
    )
    assert contact_id == 21
    assert len(script.requests) == 1
    assert script.body() == {
        "email": "ann@x.com",
        "attributes": {"FIRSTNAME": "Ann"},
        "updateEnabled": True,
        "listIds": [3],
        "emailBlacklisted": False,
    }


async def test_upsert_updated_looks_the_id_up(connect: Callable[..., BrevoClient]) -> None:
    """204 has no body, so the client asks Brevo for the contact by email."""
    script = Script(reply(204), reply(200, contact_json(99, "ann@x.com")))
    client = connect(script)
    assert await client.upsert_contact("Ann@X.com", {}) == 99
    assert script.requests[1].method == "GET"
    assert script.target(1) == "/v3/contacts/ann%40x.com?identifierType=email_id"


async def test_upsert_204_then_404_is_transient(connect: Callable[..., BrevoClient]) -> None:
    script = Script(reply(204), reply(404, {"code": "document_not_found", "message": "gone"}))
    with pytest.raises(BrevoTransientError, match="not found by email"):
        await connect(script).upsert_contact("ann@x.com", {})


async def test_create_contact_does_not_update(connect: Callable[..., BrevoClient]) -> None:
    script = Script(reply(201, {"id": 5}))
    assert await connect(script).create_contact("b@x.com", {"LASTNAME": "B"}) == 5
    assert script.body()["updateEnabled"] is False


async def test_email_is_url_encoded_in_paths(connect: Callable[..., BrevoClient]) -> None:
    script = Script(reply(200, contact_json(3, "a+b@x.com")))
    contact = await connect(script).get_contact_by_email(" A+B@X.com ")
    assert contact is not None and contact.id == 3
    assert script.target() == "/v3/contacts/a%2Bb%40x.com?identifierType=email_id"


async def test_missing_contact_is_none(connect: Callable[..., BrevoClient]) -> None:
    not_found = {"code": "document_not_found", "message": "Contact does not exist"}
    script = Script(reply(404, not_found), reply(404, not_found))
    client = connect(script)
    assert await client.get_contact_by_email("nobody@x.com") is None
    assert await client.get_contact_by_id(12) is None
    assert script.target() == "/v3/contacts/12?identifierType=contact_id"


async def test_update_contact_by_id_renames_through_attributes(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script(reply(204))
    await connect(script).update_contact(
        42,
        attributes={"FIRSTNAME": "Ann"},
        email="New@X.com",
        email_blacklisted=True,
        list_ids=[3],
        unlink_list_ids=[4],
    )
    assert script.requests[0].method == "PUT"
    assert script.target() == "/v3/contacts/42?identifierType=contact_id"
    assert script.body() == {
        "attributes": {"FIRSTNAME": "Ann", "EMAIL": "new@x.com"},
        "emailBlacklisted": True,
        "listIds": [3],
        "unlinkListIds": [4],
    }


async def test_update_with_nothing_to_change_sends_nothing(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script()
    await connect(script).update_contact(42)
    assert script.requests == []


async def test_update_of_a_vanished_contact_raises_not_found(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script(reply(404, {"code": "document_not_found", "message": "Contact does not exist"}))
    with pytest.raises(BrevoNotFoundError, match="Contact does not exist"):
        await connect(script).update_contact(42, attributes={"FIRSTNAME": "x"})


async def test_delete_contact_is_idempotent(connect: Callable[..., BrevoClient]) -> None:
    script = Script(reply(204), reply(404, {"code": "document_not_found", "message": "x"}))
    client = connect(script)
    assert await client.delete_contact(8) is True
    assert await client.delete_contact(8) is False
    assert script.requests[0].method == "DELETE"
    assert script.target(0) == "/v3/contacts/8?identifierType=contact_id"


# --- retries ------------------------------------------------------------------------------


async def test_5xx_is_retried_with_backoff_then_succeeds(
    connect: Callable[..., BrevoClient], clock: FakeClock
) -> None:
    script = Script(reply(503, {"message": "down"}), reply(502), reply(201, {"id": 4}))
    client = connect(script)
    assert await client.upsert_contact("a@x.com", {}) == 4
    # rng=0.5 → half the ceiling: 0.5 * 0.5 s, then 0.5 * 1 s.
    retry_sleeps = [s for s in clock.sleeps if s in (0.25, 0.5)]
    assert retry_sleeps == [0.25, 0.5]
    assert client.stats.retries == 2
    assert client.stats.retries_by_reason == {"503": 1, "502": 1}


async def test_429_waits_for_the_announced_reset(
    connect: Callable[..., BrevoClient], clock: FakeClock
) -> None:
    limited = reply(
        429,
        {"message": "Too Many Requests"},
        x_sib_ratelimit_limit="10",
        x_sib_ratelimit_remaining="0",
        x_sib_ratelimit_reset="3",
    )
    script = Script(limited, reply(201, {"id": 4}))
    client = connect(script)
    started = clock.now
    assert await client.upsert_contact("a@x.com", {}) == 4
    assert clock.now - started >= 3.0
    assert client.stats.retries_by_reason == {"429": 1}


async def test_429_with_a_long_reset_is_handed_back(
    connect: Callable[..., BrevoClient], clock: FakeClock
) -> None:
    """An exhausted hourly budget is not slept through inside one push."""
    limited = reply(429, {"message": "Too Many Requests"}, x_sib_ratelimit_reset="1800")
    script = Script(limited)
    with pytest.raises(BrevoRateLimitedError) as caught:
        await connect(script).upsert_contact("a@x.com", {})
    assert caught.value.reset_after == 1800.0
    assert len(script.requests) == 1


async def test_transient_errors_give_up_after_max_attempts(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script(*(reply(500) for _ in range(3)))
    with pytest.raises(BrevoTransientError, match="HTTP 500"):
        await connect(script, max_attempts=3).upsert_contact("a@x.com", {})
    assert len(script.requests) == 3


async def test_permanent_error_is_raised_at_once_with_brevos_message(
    connect: Callable[..., BrevoClient], clock: FakeClock
) -> None:
    body = {
        "code": "invalid_parameter",
        "message": "Unable to update contact, SMS is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["SMS"]},
    }
    script = Script(reply(400, body))
    with pytest.raises(BrevoPermanentError) as caught:
        await connect(script).upsert_contact("a@x.com", {"SMS": "+33612345678"})
    assert len(script.requests) == 1
    assert clock.sleeps == []
    assert "SMS is already associated" in str(caught.value)
    assert is_duplicate_sms(caught.value)


async def test_timeouts_are_transient_and_retried(connect: Callable[..., BrevoClient]) -> None:
    script = Script(httpx.ReadTimeout("timed out"), reply(201, {"id": 4}))
    client = connect(script)
    assert await client.upsert_contact("a@x.com", {}) == 4
    assert client.stats.retries_by_reason == {"network": 1}
    assert client.stats.transport_errors == 1


async def test_network_errors_become_transient_errors(connect: Callable[..., BrevoClient]) -> None:
    script = Script(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(BrevoTransientError) as caught:
        await connect(script, max_attempts=1).get_contact_by_email("a+b@x.com")
    message = str(caught.value)
    assert message.startswith("Brevo GET /contacts/{email} failed (ConnectError")
    assert "a+b" not in message and "a%2Bb" not in message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_timeout_message_says_timed_out(connect: Callable[..., BrevoClient]) -> None:
    script = Script(httpx.ConnectTimeout(""))
    with pytest.raises(BrevoTransientError, match=r"timed out \(ConnectTimeout\)"):
        await connect(script, max_attempts=1).get_contact_by_id(1)


# --- the API key stays secret -------------------------------------------------------------


def test_key_is_not_in_repr() -> None:
    client = BrevoClient(API_KEY, BASE_URL)
    assert API_KEY not in repr(client)
    assert API_KEY not in str(vars(client).get("_api_key"))


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="API key is empty"):
        BrevoClient("  ")


def leaky_transport_error(request: httpx.Request) -> httpx.Response:
    """A transport whose error text echoes the request headers (worst case)."""
    raise httpx.ConnectError(f"refused; sent {dict(request.headers)}", request=request)


@pytest.mark.parametrize(
    "failure",
    [
        reply(401, {"code": "unauthorized", "message": "Key not found"}),
        reply(400, {"code": "invalid_parameter", "message": "Invalid phone number"}),
        reply(503),
        reply(429, {"message": "Too Many Requests"}, x_sib_ratelimit_reset="9999"),
        httpx.ReadTimeout("timed out"),
        leaky_transport_error,
    ],
)
async def test_key_is_in_no_error_nor_traceback(
    connect: Callable[..., BrevoClient], failure: Reply
) -> None:
    """Neither str(), the cause chain, nor a traceback rendered with locals shows the key."""
    client = connect(Script(failure), max_attempts=1)
    with pytest.raises(BrevoError) as caught:
        await client.upsert_contact("a@x.com", {})
    err = caught.value
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for exc in chain:
        assert API_KEY not in str(exc)
        assert API_KEY not in repr(exc)
    rendered = "".join(
        traceback.TracebackException.from_exception(err, capture_locals=True).format()
    )
    assert API_KEY not in rendered


# --- observability ------------------------------------------------------------------------


async def test_stats_and_latency_hook(connect: Callable[..., BrevoClient]) -> None:
    seen: list[tuple[str, int, float]] = []
    script = Script(reply(500), reply(201, {"id": 1}), reply(200, {"id": 2, "status": "queued"}))
    client = connect(script, on_response=lambda g, s, t: seen.append((g, s, t)))
    await client.upsert_contact("a@x.com", {})
    await client.get_process(2)
    assert [(g, s) for g, s, _ in seen] == [("contacts", 500), ("contacts", 201), ("other", 200)]
    assert all(t >= 0 for _, _, t in seen)
    assert client.stats.calls == {("POST", "contacts"): 2, ("GET", "other"): 1}


async def test_rate_limit_headers_feed_the_limiter(
    connect: Callable[..., BrevoClient], clock: FakeClock
) -> None:
    exhausted = reply(
        200,
        contact_json(1, "a@x.com"),
        x_sib_ratelimit_limit="36000",
        x_sib_ratelimit_remaining="0",
        x_sib_ratelimit_reset="20",
    )
    script = Script(exhausted, reply(200, contact_json(1, "a@x.com")))
    client = connect(script)
    await client.get_contact_by_id(1)
    started = clock.now
    await client.get_contact_by_id(1)
    assert clock.now - started == pytest.approx(20.0)
    assert client.limiter.stats.waits == 1


# --- listing ------------------------------------------------------------------------------


async def test_list_contacts_sends_paging_and_modified_since(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script(reply(200, {"contacts": [contact_json(1, "a@x.com")], "count": 17}))
    since = datetime(2024, 5, 1, 12, 30, 0, 500_000, tzinfo=UTC)
    contacts, total = await connect(script).list_contacts(
        limit=500, offset=1000, modified_since=since
    )
    assert [c.id for c in contacts] == [1]
    assert total == 17
    params = script.requests[0].url.params
    assert dict(params) == {
        "limit": "500",
        "offset": "1000",
        "sort": "asc",
        "modifiedSince": "2024-05-01T12:30:00.500Z",
    }


async def test_list_contacts_refuses_pages_over_1000(connect: Callable[..., BrevoClient]) -> None:
    with pytest.raises(ValueError, match="limit"):
        await connect(Script()).list_contacts(limit=1001)


async def test_remove_from_list_by_ids(connect: Callable[..., BrevoClient]) -> None:
    noop = {
        "code": "invalid_parameter",
        "message": "Contact already removed from list and/or does not exist",
    }
    script = Script(reply(400, noop))
    result = await connect(script).remove_from_list(7, ids=[1, 2])
    assert script.target() == "/v3/contacts/lists/7/contacts/remove"
    assert script.body() == {"ids": [1, 2]}
    assert result.unchanged == [1, 2]


async def test_unknown_list_is_an_error(connect: Callable[..., BrevoClient]) -> None:
    script = Script(reply(404, {"code": "document_not_found", "message": "List ID not found"}))
    with pytest.raises(BrevoNotFoundError):
        await connect(script).remove_from_list(999, ids=[1])


async def test_list_change_needs_exactly_one_kind(connect: Callable[..., BrevoClient]) -> None:
    client = connect(Script())
    with pytest.raises(ValueError):
        await client.remove_from_list(1)
    with pytest.raises(ValueError):
        await client.remove_from_list(1, emails=["a@x.com"], ids=[1])


async def test_empty_list_change_sends_nothing(connect: Callable[..., BrevoClient]) -> None:
    script = Script()
    result = await connect(script).remove_from_list(1, emails=[])
    assert script.requests == [] and result.success == []


# --- imports ------------------------------------------------------------------------------


async def test_import_contacts_starts_a_process(connect: Callable[..., BrevoClient]) -> None:
    script = Script(reply(202, {"processId": 78}))
    rows = [{"email": " A@X.com", "attributes": {"FIRSTNAME": "Ann"}}]
    assert await connect(script).import_contacts(rows, list_ids=[3]) == 78
    assert script.target() == "/v3/contacts/import"
    assert script.body() == {
        "jsonBody": [{"email": "a@x.com", "attributes": {"FIRSTNAME": "Ann"}}],
        "listIds": [3],
        "updateExistingContacts": True,
        "emailBlacklist": False,
        "disableNotification": True,
        "emptyContactsAttributes": False,
    }


async def test_import_over_8_mb_is_refused_before_sending(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script()
    rows = [{"email": f"u{n}@x.com", "attributes": {"NOTE": "x" * 1_000}} for n in range(9_000)]
    with pytest.raises(ValueError, match="chunk_import_rows"):
        await connect(script).import_contacts(rows, list_ids=[3])
    assert script.requests == []


async def test_import_needs_rows_and_a_list(connect: Callable[..., BrevoClient]) -> None:
    client = connect(Script())
    with pytest.raises(ValueError):
        await client.import_contacts([], list_ids=[1])
    with pytest.raises(ValueError):
        await client.import_contacts([{"email": "a@x.com"}], list_ids=[])


@pytest.mark.parametrize("lost", [
    reply(502, None), reply(524, None), httpx.ReadTimeout("read timed out")])
async def test_an_import_without_an_answer_is_not_posted_again(
    connect: Callable[..., BrevoClient], lost: Reply
) -> None:
    """Brevo may have taken it: a second POST would import the same rows twice."""
    script = Script(lost, reply(202, {"processId": 5}))
    with pytest.raises(BrevoTransientError):
        await connect(script).import_contacts([{"email": "a@x.com"}], list_ids=[3])
    assert len(script.requests) == 1


async def test_an_import_refused_with_429_is_sent_again(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script(reply(429, {"message": "Too Many Requests"}, x_sib_ratelimit_reset="1"),
                    reply(202, {"processId": 5}))
    assert await connect(script).import_contacts([{"email": "a@x.com"}], list_ids=[3]) == 5
    assert len(script.requests) == 2


async def test_a_poll_without_retry_spends_one_call_at_most(
    connect: Callable[..., BrevoClient],
) -> None:
    script = Script(reply(503, None), reply(200, {"id": 9, "status": "queued"}))
    with pytest.raises(BrevoTransientError):
        await connect(script).get_process(9, retry=False)
    assert len(script.requests) == 1


async def test_no_retry_sleeps_past_the_deadline(
    connect: Callable[..., BrevoClient], clock: FakeClock
) -> None:
    from brevo_sync.brevo.limiter import deadline

    script = Script(reply(429, {"message": "Too Many Requests"}, x_sib_ratelimit_reset="30"),
                    reply(200, {"contacts": [], "count": 0}))
    with deadline(clock.now + 10), pytest.raises(BrevoRateLimitedError):
        await connect(script).list_contacts()
    assert clock.sleeps == [] and len(script.requests) == 1


async def test_create_existing_attribute_is_fine(connect: Callable[..., BrevoClient]) -> None:
    unique = {"code": "invalid_parameter", "message": "Attribute name must be unique"}
    script = Script(reply(400, unique))
    assert await connect(script).create_attribute("USED_WELCOME_OFFER", "boolean") is False


async def test_list_names_reads_every_page_of_lists(connect: Callable[..., BrevoClient]) -> None:
    first = [{"id": n, "name": f"List {n}"} for n in range(1, 51)]
    script = Script(reply(200, {"lists": first, "count": 51}),
                    reply(200, {"lists": [{"id": 51, "name": "Last"}], "count": 51}))
    names = await connect(script).list_names()
    assert len(names) == 51 and names[2] == "List 2" and names[51] == "Last"
    assert script.target(0) == "/v3/contacts/lists?limit=50&offset=0"
    assert script.target(1) == "/v3/contacts/lists?limit=50&offset=50"
