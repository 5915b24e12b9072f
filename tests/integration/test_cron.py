"""GET /api/cron/sync-brevo in a minimal Starlette app: only the Bearer secret admits a caller,
and an admitted call runs the sweep and answers with its result."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from structlog.testing import capture_logs

from api.cron import CRON_PATH, cron_route
from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.reconcile import ALREADY_RUNNING, sweep_lock
from tests.factories import add_customers

pytestmark = pytest.mark.anyio

SECRET = "cron-secret-0123456789abcdef"
RIGHT = {"authorization": f"Bearer {SECRET}"}
SPOOFED = {"user-agent": "vercel-cron/1.0", "x-vercel-cron": "1",
           "x-vercel-cron-schedule": "0 * * * *"}


def app_with(settings: Settings, pool: Pool, brevo: BrevoClient) -> Starlette:
    app = Starlette(routes=[cron_route])
    app.state.settings = settings
    app.state.pool = pool
    app.state.brevo = brevo
    return app


@pytest.fixture
def cron_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, cron_secret=Settings.from_env(
        {"CRON_SECRET": SECRET}).cron_secret)


async def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test")


@pytest.fixture
async def http(cron_settings: Settings, pool: Pool, brevo: BrevoClient
               ) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(app_with(cron_settings, pool, brevo)) as client:
        yield client


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no header"),
    pytest.param({"authorization": "Bearer not-the-secret"}, id="wrong secret"),
    pytest.param({"authorization": SECRET}, id="secret without Bearer"),
    pytest.param({"authorization": f"Basic {SECRET}"}, id="another scheme"),
    pytest.param({"authorization": f"Bearer {SECRET}x"}, id="secret plus one"),
    pytest.param(SPOOFED, id="vercel headers only"),
])
async def test_a_caller_without_the_secret_is_refused(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], headers: dict[str, str]) -> None:
    answer = await http.get(CRON_PATH, headers=headers)
    assert answer.status_code == 401 and answer.json() == {"error": "unauthorized"}
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.runs").fetchone() == {"n": 0}


async def test_the_secret_admits_the_call_and_the_sweep_answers(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], store: Any) -> None:
    add_customers(db, 3)
    db.execute("DELETE FROM brevo_sync.queue")
    answer = await http.get(CRON_PATH, headers={**RIGHT, **SPOOFED})
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True and body["synced"] == 3 and body["total"] == 3
    assert body["remaining"] == 0 and len(body["results"]) == 3 and body["run_id"]
    assert {"message", "failed"} <= body.keys() and store.count() == 3
    run = db.execute("SELECT source, status FROM brevo_sync.runs").fetchone()
    assert run == {"source": "cron", "status": "done"}


@pytest.mark.parametrize("headers", [
    pytest.param(RIGHT, id="the old secret"),
    pytest.param({"authorization": "Bearer "}, id="an empty bearer"),
    pytest.param({**SPOOFED, "authorization": "Bearer None"}, id="spoofed"),
])
async def test_without_cron_secret_every_call_is_refused(
        settings: Settings, pool: Pool, brevo: BrevoClient, headers: dict[str, str]) -> None:
    assert settings.cron_secret is None
    async with await client_for(app_with(settings, pool, brevo)) as http:
        answer = await http.get(CRON_PATH, headers=headers)
    assert answer.status_code == 401 and answer.json() == {"error": "unauthorized"}


async def test_only_get_on_the_exact_path_runs_the_sweep(http: httpx.AsyncClient) -> None:
    assert (await http.post(CRON_PATH, headers=RIGHT)).status_code == 405
    assert (await http.head(CRON_PATH, headers=RIGHT)).status_code == 405  # HEAD is no GET
    exact = await http.get(CRON_PATH, headers=RIGHT, follow_redirects=False)
    assert exact.status_code == 200 and not exact.is_redirect
    assert (await http.get("/api/cron/sync", headers=RIGHT)).status_code == 404


async def test_the_authorization_header_is_never_logged(
        http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> None:
    add_customers(db, 1)
    with capture_logs() as logs:
        await http.get(CRON_PATH, headers={"authorization": f"Bearer {SECRET}-wrong"})
        answer = await http.get(CRON_PATH, headers=RIGHT)
    assert answer.status_code == 200
    assert any(entry["event"] == "cron_refused" for entry in logs)
    assert SECRET not in repr(logs) and SECRET not in answer.text


async def test_a_sweep_already_running_answers_409(
        http: httpx.AsyncClient, cron_settings: Settings) -> None:
    async with sweep_lock(cron_settings.require_database()):
        answer = await http.get(CRON_PATH, headers=RIGHT)
    assert answer.status_code == 409
    assert answer.json()["error"] == ALREADY_RUNNING and answer.json()["success"] is False


async def test_a_refused_mass_removal_answers_409_with_the_reason(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], store: Any) -> None:
    add_customers(db, 10)
    assert (await http.get(CRON_PATH, headers=RIGHT)).json()["synced"] == 10
    db.execute("UPDATE customers SET marketing_opt_in = false")
    db.execute("DELETE FROM brevo_sync.queue")
    answer = await http.get(CRON_PATH, headers=RIGHT)
    body = answer.json()
    assert answer.status_code == 409 and body["success"] is False
    assert "10 of 10" in body["refused"] and body["refused"] == body["message"]
    assert not any(c["emailBlacklisted"] for c in store.contacts())
