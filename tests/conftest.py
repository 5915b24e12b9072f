"""Shared fixtures: a real PostgreSQL (a fresh database per test) and the Brevo emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from brevo_sync.brevo import BrevoClient, RateLimiter, RateLimits
from brevo_sync.config import Settings
from brevo_sync.db import Pool, make_pool
from brevo_sync.emulator import EmulatorConfig, create_app
from brevo_sync.engine import Engine
from brevo_sync.wiring import engine_from, prepare_brevo
from tests.pg import Databases, chosen_path, start_server

TEST_API_KEY = "xkeysib-test-0123456789abcdef"
TEST_LIST_ID = 2  # the emulator's default list


def pytest_report_header(config: pytest.Config) -> str:
    return f"database path: {chosen_path()}"


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest) -> Iterator[Databases]:
    with start_server() as server:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"\nPostgreSQL for tests: {server.description}")
        dbs = Databases(server)
        try:
            yield dbs
        finally:
            dbs.close()


@pytest.fixture
def database_url(databases: Databases) -> Iterator[str]:
    name = databases.create()
    try:
        yield databases.server.url_for(name)
    finally:
        databases.drop(name)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A plain autocommit connection for arranging and checking rows."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with make_pool(database_url, "brevo-sync-test", max_size=6) as p:
        yield p


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(import_base_ms=20.0, import_ms_per_contact=0.0, seed=1)


@pytest.fixture
def emulator_app(emulator_config: EmulatorConfig) -> Any:
    """The emulator itself: `.state.store`, `.state.calls`, `.state.config` (live)."""
    return create_app(emulator_config)


@pytest.fixture
def store(emulator_app: Any) -> Any:
    return emulator_app.state.store


@pytest.fixture
def emulator(emulator_app: Any) -> Any:
    """The emulator behind a check that every request and response fits Brevo's definition."""
    from tests.support.openapi_check import OpenAPIConformance

    checked = OpenAPIConformance(emulator_app)
    yield checked
    assert checked.violations == [], "requests or responses off Brevo's definition"


@pytest.fixture
def brevo_calls(emulator_app: Any) -> Any:
    """Total /v3 calls the emulator has answered so far."""
    return lambda: sum(emulator_app.state.calls.values())


@pytest.fixture
def fast_limits() -> RateLimits:
    """Limits far above the emulator's default, so tests about logic do not wait."""
    return RateLimits(contacts_per_second=10_000, contacts_per_hour=10_000_000,
                      other_per_hour=100_000)


@pytest.fixture
async def brevo(emulator: Any, fast_limits: RateLimits) -> AsyncIterator[BrevoClient]:
    client = BrevoClient(TEST_API_KEY, "http://brevo.test/v3",
                         transport=httpx.ASGITransport(app=emulator),
                         limiter=RateLimiter(fast_limits))
    async with client:
        yield client


@pytest.fixture
async def engine(pool: Pool, brevo: BrevoClient, settings: Settings) -> Engine:
    await prepare_brevo(brevo)
    return engine_from(settings, pool, brevo, source="test", keep_outcomes=True)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": database_url,
        "BREVO_API_KEY": TEST_API_KEY,
        "BREVO_BASE_URL": "http://brevo.test/v3",
        "BREVO_LIST_ID": str(TEST_LIST_ID),
    })
