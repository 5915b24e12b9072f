"""The command line as a user runs it: real processes, a real database, the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from brevo_sync.seed import REFUSED_EMAIL
from tests.factories import add_customer, add_customers
from tests.support.processes import emulator_process


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brevo_sync.cli", *args],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def fake_brevo() -> Iterator[str]:
    with emulator_process() as base:
        yield base


def test_migrate_twice_is_a_no_op(databases: Any) -> None:
    name = databases.create_empty()
    try:
        env = {"DATABASE_URL": databases.server.url_for(name)}
        first = run("migrate", env=env)
        assert first.returncode == 0 and "003_trigger.sql" in first.stdout
        second = run("migrate", env=env)
        assert second.returncode == 0 and second.stdout.strip() == "up to date"
    finally:
        databases.drop(name)


def test_listen_once_drains_and_status_counts(
        db: psycopg.Connection[Any], database_url: str, fake_brevo: str) -> None:
    add_customers(db, 5)
    add_customer(db, marketing_opt_in=False)
    bad = add_customer(db, email=REFUSED_EMAIL)
    env = {"DATABASE_URL": database_url, "BREVO_API_KEY": "xkeysib-cli-test",
           "BREVO_BASE_URL": fake_brevo, "BREVO_LIST_ID": "2"}
    drained = run("listen", "--once", env=env)
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout.strip().splitlines()[-1])["failed"] == 1
    assert "xkeysib-cli-test" not in drained.stdout + drained.stderr
    contacts = httpx.get(fake_brevo.removesuffix("/v3") + "/_emulator/contacts").json()
    assert contacts["count"] == 5
    status = run("status", "--json", env=env)
    totals = json.loads(status.stdout)
    assert totals["customers"] == 7 and totals["opted_in"] == 6
    assert totals["in_brevo"] == 5 and totals["pending"] == 0 and totals["failed"] == 1
    text = run("status", env=env).stdout
    assert "failed" in text and "in Brevo" in text
    assert bad


def test_listen_once_with_a_revoked_key_pauses_and_status_says_why(
        db: psycopg.Connection[Any], database_url: str, fake_brevo: str) -> None:
    add_customers(db, 3)
    root = fake_brevo.removesuffix("/v3")
    httpx.patch(root + "/_emulator/config", json={"revoked_keys": ["xkeysib-cli-test"]})
    env = {"DATABASE_URL": database_url, "BREVO_API_KEY": "xkeysib-cli-test",
           "BREVO_BASE_URL": fake_brevo, "BREVO_LIST_ID": "2"}
    drained = run("listen", "--once", env=env)
    assert drained.returncode == 6  # Brevo refused the key: one line, no traceback
    said = drained.stderr.strip().splitlines()[-1]  # after the pause's own error log line
    assert said.startswith("brevo-sync: ") and "BREVO_API_KEY" in said and "Key not found" in said
    assert "xkeysib-cli-test" not in drained.stdout + drained.stderr
    totals = json.loads(run("status", "--json", env=env).stdout)
    assert totals["pending"] == 3 and totals["failed"] == 0
    assert totals["paused"]["status"] == 401 and "Key not found" in totals["paused"]["reason"]
    text = run("status", env=env).stdout
    assert "PAUSED" in text and "Key not found" in text
    httpx.patch(root + "/_emulator/config", json={"revoked_keys": []})
    assert run("listen", "--once", env=env).returncode == 0
    totals = json.loads(run("status", "--json", env=env).stdout)
    assert totals["pending"] == 0 and totals["in_brevo"] == 3 and totals["paused"] is None


@pytest.mark.parametrize(("env", "variable"), [
    ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ({"DATABASE_URL": "mysql://nope"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql://x@127.0.0.1/db", "BREVO_LIST_ID": "abc"}, "BREVO_LIST_ID"),
])
def test_bad_settings_stop_at_start_naming_the_variable(env: dict[str, str],
                                                        variable: str) -> None:
    result = run("status", env=env)
    assert result.returncode == 2 and variable in result.stderr


def test_listen_once_without_a_key_names_it(database_url: str) -> None:
    result = run("listen", "--once", env={"DATABASE_URL": database_url, "BREVO_API_KEY": ""})
    assert result.returncode == 2 and "BREVO_API_KEY" in result.stderr


def test_migrate_with_only_the_direct_url(databases: Any) -> None:
    name = databases.create_empty()
    try:
        env = {"DATABASE_URL": "", "DATABASE_URL_UNPOOLED": databases.server.url_for(name)}
        result = run("migrate", env=env)
        assert result.returncode == 0 and "001_customers.sql" in result.stdout, result.stderr
    finally:
        databases.drop(name)


def test_migrate_refuses_a_pooler_naming_the_variable() -> None:
    pooled = "postgresql://u:pw-secret@ep-x-pooler.eu-central-1.aws.neon.tech/db"
    result = run("migrate", env={"DATABASE_URL": pooled, "DATABASE_URL_UNPOOLED": ""})
    assert result.returncode == 2
    assert "DATABASE_URL names a connection pooler" in result.stderr
    assert "pw-secret" not in result.stdout + result.stderr
