"""`brevo-sync webhooks install | status | remove` as a user runs them, against the emulator
in its own process, and the emulator's delivery through the API served by uvicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from bench.bench_webhooks import api_process
from bench.support import emulator_process
from tests.factories import add_customer, customer

SECRET = "cli-webhook-secret-0123456789abcdef"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brevo_sync.cli", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@pytest.fixture
def fake_brevo() -> Iterator[str]:
    with emulator_process() as base:
        yield base


@pytest.fixture
def env(database_url: str, fake_brevo: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "BREVO_API_KEY": "xkeysib-cli-test",
            "BREVO_BASE_URL": fake_brevo, "BREVO_LIST_ID": "2",
            "BREVO_WEBHOOK_SECRET": SECRET, "ADMIN_PASSWORD": "cli-admin-password"}


def test_install_refuses_plain_http_and_a_missing_secret(env: dict[str, str]) -> None:
    plain = run("webhooks", "install", "--url", "http://example.com/api/webhooks/brevo", env=env)
    assert plain.returncode == 2 and "https" in plain.stderr
    unset = run("webhooks", "install", "--url", "https://example.com/api/webhooks/brevo",
                env={**env, "BREVO_WEBHOOK_SECRET": ""})
    assert unset.returncode == 2 and "BREVO_WEBHOOK_SECRET" in unset.stderr


def test_install_twice_status_and_remove(env: dict[str, str], fake_brevo: str) -> None:
    url = "https://app.example.com/api/webhooks/brevo"
    first = run("webhooks", "install", "--url", url, env=env)
    second = run("webhooks", "install", "--url", url, env=env)
    assert first.returncode == 0 and "created" in first.stdout, first.stderr
    assert second.returncode == 0 and "updated" in second.stdout, second.stderr
    status = run("webhooks", "status", "--json", env=env)
    shown = json.loads(status.stdout)
    assert [h["url"] for h in shown["webhooks"]] == [url]
    assert shown["webhooks"][0]["auth"] == "bearer" and shown["last_received_at"] is None
    assert SECRET not in status.stdout + status.stderr + first.stdout + first.stderr
    assert "last delivery received: never" in run("webhooks", "status", env=env).stdout
    removed = run("webhooks", "remove", env=env)
    assert removed.returncode == 0 and "removed" in removed.stdout
    hooks = httpx.get(fake_brevo + "/webhooks", params={"type": "marketing"},
                      headers={"api-key": "x"}).json()["webhooks"]
    assert hooks == []


def test_an_unsubscribe_in_the_emulator_reaches_the_served_api(
        env: dict[str, str], fake_brevo: str, db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    root = fake_brevo.removesuffix("/v3")
    [contact_id] = httpx.post(root + "/_emulator/contacts",
                              json={"contacts": [{"email": "ann@example.com"}]}).json()["ids"]
    with api_process({**os.environ, **env}) as api:
        assert run("webhooks", "install", "--url", api + "/api/webhooks/brevo",
                   env=env).returncode == 0
        httpx.post(f"{root}/_emulator/contacts/{contact_id}/unsubscribe", json={})
        deadline = time.monotonic() + 10
        while customer(db, cid)["marketing_opt_in"]:
            assert time.monotonic() < deadline, "the unsubscribe never reached the database"
            time.sleep(0.02)
        status = run("webhooks", "status", "--json", env=env)
    assert json.loads(status.stdout)["events"] == 1
    deliveries = httpx.get(root + "/_emulator/webhooks/deliveries").json()["deliveries"]
    assert [d["status"] for d in deliveries] == [200]
    assert deliveries[0]["events"][0]["event"] == "unsubscribe"
