"""The real client against the Brevo emulator, in-process (httpx.ASGITransport).

Client and emulator share one manual clock: the client's injected sleep moves it, so rate
limits, 429 storms and import durations play out without real waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from brevo_sync.brevo import (
    BrevoClient,
    BrevoPermanentError,
    RateLimiter,
    RateLimits,
    is_duplicate_email,
    is_duplicate_sms,
)
from brevo_sync.emulator import EmulatorConfig, ManualClock, create_app

pytestmark = pytest.mark.anyio

API_KEY = "xkeysib-emulated-0123456789abcdef-secret"
LIST_ID = 2  # the emulator's default list


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SharedClock:
    """The emulator's manual clock, seen from the client: sleeping advances it."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.slept = 0.0

    def __call__(self) -> float:
        return self.clock.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.clock.advance(seconds)
        await asyncio.sleep(0)


class Account:
    """One emulated Brevo account and a way to connect clients to it."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.emulator_clock = ManualClock()
        self.clock = SharedClock(self.emulator_clock)
        self.app = create_app(config, clock=self.emulator_clock)
        self.clients: list[BrevoClient] = []

    def connect(self, limits: RateLimits | None = None, **options: Any) -> BrevoClient:
        client = BrevoClient(
            options.pop("api_key", API_KEY),
            "http://brevo.test/v3",
            transport=httpx.ASGITransport(app=self.app),
            limiter=RateLimiter(limits, clock=self.clock, sleep=self.clock.sleep),
            sleep=self.clock.sleep,
            clock=self.clock,
            **options,
        )
        self.clients.append(client)
        return client

    @property
    def store(self) -> Any:
        return self.app.state.store

    def statuses(self) -> dict[int, int]:
        """How many /v3 calls the emulator answered with each status."""
        counts: dict[int, int] = {}
        for (_method, _path, status), n in self.app.state.calls.items():
            counts[status] = counts.get(status, 0) + n
        return counts


@pytest.fixture
async def account_factory() -> AsyncIterator[Callable[..., Account]]:
    made: list[Account] = []

    def make(**config: Any) -> Account:
        account = Account(EmulatorConfig(api_key=API_KEY, seed=7, **config))
        made.append(account)
        return account

    yield make
    for account in made:
        for client in account.clients:
            await client.aclose()


async def test_contact_lifecycle(account_factory: Callable[..., Account]) -> None:
    """Create, upsert, read, rename, list membership, delete — one contact, start to end."""
    account = account_factory()
    brevo = account.connect()

    assert await brevo.create_attribute("USED_WELCOME_OFFER", "boolean") is True
    assert await brevo.create_attribute("USED_WELCOME_OFFER", "boolean") is False
    assert (await brevo.list_attributes())["USED_WELCOME_OFFER"] == "boolean"

    attrs = {"FIRSTNAME": "Ann", "SMS": "+33612345678", "USED_WELCOME_OFFER": True}
    created = await brevo.upsert_contact("Ann+news@Example.com", attrs, list_ids=[LIST_ID])
    updated = await brevo.upsert_contact("ann+news@example.com", {"LASTNAME": "Lee"})
    assert updated == created, "the 204 path finds the same contact"

    contact = await brevo.get_contact_by_email("ANN+news@example.com")
    assert contact is not None
    assert contact.id == created
    assert contact.attributes["USED_WELCOME_OFFER"] is True
    assert contact.attributes["LASTNAME"] == "Lee"
    assert contact.list_ids == [LIST_ID]

    await brevo.update_contact(created, email="ann@example.org", email_blacklisted=True)
    renamed = await brevo.get_contact_by_id(created)
    assert renamed is not None
    assert renamed.email == "ann@example.org"
    assert renamed.email_blacklisted
    assert await brevo.get_contact_by_email("ann+news@example.com") is None

    removed = await brevo.remove_from_list(LIST_ID, ids=[created])
    assert removed.success == [created]
    again = await brevo.remove_from_list(LIST_ID, ids=[created])
    assert again.unchanged == [created], "removing twice is a no-op, not an error"
    await brevo.update_contact(created, list_ids=[LIST_ID])
    back = await brevo.get_contact_by_email("ANN@example.org")
    assert back is not None and back.list_ids == [LIST_ID]

    assert await brevo.delete_contact(created) is True
    assert await brevo.get_contact_by_id(created) is None
    assert await brevo.delete_contact(created) is False


async def test_duplicate_identifiers_are_permanent(account_factory: Callable[..., Account]) -> None:
    account = account_factory()
    brevo = account.connect()
    first = await brevo.upsert_contact("a@x.com", {"SMS": "+33612345678"})
    second = await brevo.upsert_contact("b@x.com", {})

    with pytest.raises(BrevoPermanentError) as sms_clash:
        await brevo.upsert_contact("b@x.com", {"SMS": "+33612345678"})
    assert is_duplicate_sms(sms_clash.value)
    assert "SMS" in str(sms_clash.value)

    with pytest.raises(BrevoPermanentError) as email_clash:
        await brevo.update_contact(second, email="a@x.com")
    assert is_duplicate_email(email_clash.value)
    assert first != second


async def test_invalid_phone_is_permanent_with_brevos_message(
    account_factory: Callable[..., Account],
) -> None:
    brevo = account_factory().connect()
    with pytest.raises(BrevoPermanentError, match="Invalid phone number") as caught:
        await brevo.upsert_contact("a@x.com", {"SMS": "12"})
    assert caught.value.status == 400


async def test_wrong_key_is_permanent_and_never_echoed(
    account_factory: Callable[..., Account],
) -> None:
    wrong = "xkeysib-wrong-key-do-not-print"
    brevo = account_factory().connect(api_key=wrong)
    with pytest.raises(BrevoPermanentError, match="Key not found") as caught:
        await brevo.get_contact_by_id(1)
    assert caught.value.status == 401
    assert wrong not in str(caught.value) and wrong not in repr(brevo)


async def test_import_then_page_through_every_contact(
    account_factory: Callable[..., Account],
) -> None:
    """Bulk import 2,500 rows, wait for the process, then list them 1,000 at a time."""
    account = account_factory()
    brevo = account.connect()
    rows = [{"email": f"User{n}@x.com", "attributes": {"FIRSTNAME": f"U{n}"}} for n in range(2_500)]
    process_id = await brevo.import_contacts(rows, list_ids=[LIST_ID])
    process = await brevo.get_process(process_id)
    while not process.finished:
        await account.clock.sleep(1)
        process = await brevo.get_process(process_id)
    assert process.succeeded

    emails: list[str] = []
    while len(page := (await brevo.list_contacts(limit=1_000, offset=len(emails)))[0]):
        emails += [str(c.email) for c in page]
    assert sorted(emails) == sorted(f"user{n}@x.com" for n in range(2_500))
    assert brevo.stats.calls[("GET", "contacts")] == 4


async def test_modified_since_returns_only_recent_changes(
    account_factory: Callable[..., Account],
) -> None:
    account = account_factory()
    brevo = account.connect()
    await brevo.upsert_contact("old@x.com", {})
    await account.clock.sleep(60)
    cutoff = datetime.fromtimestamp(account.emulator_clock.wall(), UTC)
    await account.clock.sleep(1)
    await brevo.upsert_contact("new@x.com", {})
    recent, _ = await brevo.list_contacts(modified_since=cutoff)
    assert [c.email for c in recent] == ["new@x.com"]


async def test_default_pacing_never_meets_a_429(account_factory: Callable[..., Account]) -> None:
    """With Brevo's limits enforced, 80 concurrent pushes at default pacing all pass first time."""
    account = account_factory(rate_limits=True)
    brevo = account.connect()
    emails = [f"u{n}@x.com" for n in range(80)]
    await asyncio.gather(*(brevo.upsert_contact(e, {"FIRSTNAME": "x"}) for e in emails))
    assert account.statuses().get(429, 0) == 0
    assert brevo.stats.retries == 0
    assert account.store.count() == 80
    # ...and not needlessly slow: about 8 per second.
    assert account.clock.slept < 12


async def test_a_second_process_sharing_the_account_is_held_by_the_headers(
    account_factory: Callable[..., Account],
) -> None:
    """Two limiters on one account: the 429s and rate-limit headers bring both back in line."""
    account = account_factory(rate_limits=True)
    a, b = account.connect(), account.connect()
    jobs = [
        c.upsert_contact(f"{name}{n}@x.com", {})
        for n in range(30)
        for name, c in (("a", a), ("b", b))
    ]
    ids = await asyncio.gather(*jobs)
    assert len(set(ids)) == 60
    assert account.store.count() == 60


async def test_429_storm_is_ridden_out_without_losing_a_write(
    account_factory: Callable[..., Account],
) -> None:
    account = account_factory(rate_limits=True, storm_rate=0.2, storm_seconds=2.0)
    brevo = account.connect()
    emails = [f"storm{n}@x.com" for n in range(60)]
    ids = await asyncio.gather(*(brevo.upsert_contact(e, {"FIRSTNAME": "S"}) for e in emails))
    assert account.statuses()[429] > 0, "the storm happened"
    assert brevo.stats.retries_by_reason["429"] > 0
    assert len(set(ids)) == 60
    assert all(account.store.get_by_email(e) is not None for e in emails)


async def test_twenty_percent_5xx_loses_no_write(account_factory: Callable[..., Account]) -> None:
    account = account_factory(error_rate=0.2, timeout_rate=0.05, timeout_seconds=0.0)
    brevo = account.connect(limits=RateLimits(contacts_per_second=1_000))
    emails = [f"flaky{n}@x.com" for n in range(150)]
    ids = await asyncio.gather(*(brevo.upsert_contact(e, {"LASTNAME": "F"}) for e in emails))
    statuses = account.statuses()
    assert statuses.get(502, 0) + statuses.get(503, 0) + statuses.get(504, 0) > 20
    assert len(set(ids)) == 150
    assert account.store.count() == 150
    listed = await brevo.remove_from_list(LIST_ID, emails=emails)
    assert sorted(listed.success + listed.unchanged) == sorted(emails)
    assert brevo.stats.retries > 20
