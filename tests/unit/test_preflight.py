"""Preflight: the account's setup checked against the emulator, through the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from brevo_sync.brevo import BrevoClient, BrevoPermanentError, RateLimiter, RateLimits
from brevo_sync.config import Settings
from brevo_sync.emulator import EmulatorConfig, create_app
from brevo_sync.preflight import (
    CREATED,
    NOT_CHECKED,
    OK,
    PROBLEM,
    PreflightError,
    ensure_ready,
    run_preflight,
)
from tests.support.openapi_check import OpenAPIConformance

pytestmark = pytest.mark.anyio

KEY = "xkeysib-preflight-test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig()


@pytest.fixture
def app(config: EmulatorConfig) -> Any:
    return create_app(config)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[BrevoClient]:
    checked = OpenAPIConformance(app)
    limits = RateLimits(contacts_per_second=1000, contacts_per_hour=1_000_000,
                        other_per_hour=1_000_000)
    async with BrevoClient(KEY, "http://brevo.test/v3", transport=httpx.ASGITransport(app=checked),
                           limiter=RateLimiter(limits)) as brevo:
        yield brevo
    assert checked.violations == []


def settings(**env: str) -> Settings:
    return Settings.from_env({"BREVO_API_KEY": KEY, "BREVO_BASE_URL": "http://brevo.test/v3",
                              "BREVO_LIST_ID": "2", **env})


def results(report: Any) -> dict[str, tuple[str, str]]:
    return {f.check: (f.name, f.result) for f in report.findings}


async def test_a_new_account_is_ready_once_the_boolean_is_created(
        client: BrevoClient, app: Any) -> None:
    report = await run_preflight(client, settings())
    assert report.ok and report.problems == []
    assert results(report) == {
        "key": ("BREVO_API_KEY", OK), "list": ("2", OK),
        "BREVO_ATTR_FIRSTNAME": ("FIRSTNAME", OK), "BREVO_ATTR_LASTNAME": ("LASTNAME", OK),
        "BREVO_ATTR_SMS": ("SMS", OK),
        "BREVO_ATTR_USED_WELCOME_OFFER": ("USED_WELCOME_OFFER", CREATED)}
    assert app.state.store.attributes.get("USED_WELCOME_OFFER").type == "boolean"
    again = await run_preflight(client, settings())
    assert results(again)["BREVO_ATTR_USED_WELCOME_OFFER"] == ("USED_WELCOME_OFFER", OK)
    assert "ready" in again.table().splitlines()[-1]


async def test_a_missing_list_is_a_problem_naming_the_setting(client: BrevoClient) -> None:
    report = await run_preflight(client, settings(BREVO_LIST_ID="99"))
    assert not report.ok and [f.check for f in report.problems] == ["list"]
    assert "Brevo has no list 99: set BREVO_LIST_ID" in report.problems[0].detail
    with pytest.raises(PreflightError, match="list 99"):
        await ensure_ready(client, settings(BREVO_LIST_ID="99"))


async def test_no_list_set_is_fine(client: BrevoClient) -> None:
    report = await run_preflight(client, Settings.from_env({"BREVO_API_KEY": KEY}))
    assert report.ok and results(report)["list"] == ("-", OK)


async def test_an_attribute_of_another_type_is_a_problem_naming_it(
        client: BrevoClient) -> None:
    await client.create_attribute("USED_WELCOME_OFFER", "text")
    await client.create_attribute("BIRTHDAY", "date")
    report = await run_preflight(client, settings(BREVO_ATTR_LASTNAME="BIRTHDAY"))
    assert [(f.check, f.name) for f in report.problems] == [
        ("BREVO_ATTR_LASTNAME", "BIRTHDAY"),
        ("BREVO_ATTR_USED_WELCOME_OFFER", "USED_WELCOME_OFFER")]
    assert "is a date attribute, the sync writes text" in report.problems[0].detail
    assert "is a text attribute, the sync writes boolean" in report.problems[1].detail
    table = report.table()
    assert "PROBLEM" in table and table.splitlines()[-1].startswith("2 problems")


async def test_a_french_account_works_with_its_names(client: BrevoClient, app: Any) -> None:
    app.state.store.attributes.reset("fr")
    report = await run_preflight(client, settings(BREVO_ATTR_FIRSTNAME="prenom",
                                                  BREVO_ATTR_LASTNAME="NOM"))
    assert report.ok
    assert results(report)["BREVO_ATTR_FIRSTNAME"] == ("PRENOM", OK)
    assert app.state.store.attributes.get("FIRSTNAME") is None


async def test_on_a_french_account_the_default_names_point_at_its_own(
        client: BrevoClient, app: Any) -> None:
    app.state.store.attributes.reset("fr")
    report = await run_preflight(client, settings())
    assert [(f.check, f.name) for f in report.problems] == [
        ("BREVO_ATTR_FIRSTNAME", "FIRSTNAME"), ("BREVO_ATTR_LASTNAME", "LASTNAME")]
    assert "the account has PRENOM instead" in report.problems[0].detail
    assert "set BREVO_ATTR_LASTNAME=NOM" in report.problems[1].detail
    assert app.state.store.attributes.get("FIRSTNAME") is None, "created beside PRENOM"


async def test_without_creating_a_missing_attribute_is_a_problem(client: BrevoClient) -> None:
    report = await run_preflight(client, settings(), create=False)
    assert [f.name for f in report.problems] == ["USED_WELCOME_OFFER"]
    assert "missing: create it as boolean" in report.problems[0].detail


async def test_a_refused_key_is_said_and_nothing_else_is_checked(
        client: BrevoClient, config: EmulatorConfig) -> None:
    config.api_key = "xkeysib-another"
    report = await run_preflight(client, settings())
    assert not report.ok and isinstance(report.error, BrevoPermanentError)
    assert results(report)["key"] == ("BREVO_API_KEY", PROBLEM)
    assert "Brevo refused the key (Key not found)" in report.problems[0].detail
    assert {result for check, (_, result) in results(report).items() if check != "key"} == \
        {NOT_CHECKED}
    with pytest.raises(BrevoPermanentError):
        await ensure_ready(client, settings())
    assert KEY not in report.table()
