"""`brevo-sync check` and the checks `listen` and `reconcile` run at start, as a user runs
them: real processes, a real database, the emulator in its own process."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg

from tests.factories import add_customer
from tests.integration.test_cli import run
from tests.support.processes import emulator_process

KEY = "xkeysib-check-test"


def brevo_env(base: str, **extra: str) -> dict[str, str]:
    return {"BREVO_API_KEY": KEY, "BREVO_BASE_URL": base, "BREVO_LIST_ID": "2", **extra}


def contacts(base: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        base.removesuffix("/v3") + "/_emulator/contacts").json()["contacts"]
    return found


def test_check_on_a_new_account_creates_the_boolean_and_says_ready() -> None:
    with emulator_process() as base:
        first = run("check", env=brevo_env(base))
        assert first.returncode == 0, first.stdout + first.stderr
        lines = first.stdout.splitlines()
        assert lines[0].split() == ["CHECK", "NAME", "RESULT", "DETAIL"]
        assert any(line.split()[:3] == ["BREVO_ATTR_FIRSTNAME", "FIRSTNAME", "ok"]
                   for line in lines)
        assert any(line.split()[:3] == ["BREVO_ATTR_USED_WELCOME_OFFER", "USED_WELCOME_OFFER",
                                        "created"] for line in lines)
        assert lines[-1].startswith("ready")
        again = run("check", "--json", env=brevo_env(base))
        assert again.returncode == 0
        body = json.loads(again.stdout)
        assert body["ok"] and {f["result"] for f in body["findings"]} == {"ok"}
        assert KEY not in first.stdout + first.stderr + again.stdout


def test_check_names_every_problem_and_exits_1() -> None:
    with emulator_process() as base:
        httpx.post(base + "/contacts/attributes/normal/USED_WELCOME_OFFER",
                   headers={"api-key": KEY}, json={"type": "date"}).raise_for_status()
        result = run("check", env=brevo_env(base, BREVO_LIST_ID="99"))
        assert result.returncode == 1, result.stdout
        problems = [line for line in result.stdout.splitlines() if " PROBLEM " in line]
        assert [line.split()[0] for line in problems] == ["list", "BREVO_ATTR_USED_WELCOME_OFFER"]
        assert "Brevo has no list 99" in problems[0]
        assert "is a date attribute, the sync writes boolean" in problems[1]
        assert result.stdout.splitlines()[-1].startswith("2 problems")


def test_check_with_a_refused_key_exits_1_without_showing_it() -> None:
    with emulator_process("--api-key", "xkeysib-the-right-one") as base:
        result = run("check", env=brevo_env(base))
        assert result.returncode == 1
        assert "Brevo refused the key (Key not found)" in result.stdout
        assert "not checked" in result.stdout
        assert KEY not in result.stdout + result.stderr


def test_check_without_a_key_names_the_setting() -> None:
    result = run("check", env={"BREVO_API_KEY": ""})
    assert result.returncode == 2 and "BREVO_API_KEY" in result.stderr


def test_a_nom_prenom_account_works_end_to_end_with_the_settings(
        db: psycopg.Connection[Any], database_url: str) -> None:
    add_customer(db, email="amelie@example.fr", first_name="Amélie", last_name="Poulain",
                 used_welcome_offer=True)
    with emulator_process("--account-language", "fr") as base:
        defaults = run("check", env=brevo_env(base))
        assert defaults.returncode == 1
        assert "set BREVO_ATTR_FIRSTNAME=PRENOM" in defaults.stdout
        assert "set BREVO_ATTR_LASTNAME=NOM" in defaults.stdout
        env = {"DATABASE_URL": database_url, **brevo_env(
            base, BREVO_ATTR_FIRSTNAME="PRENOM", BREVO_ATTR_LASTNAME="NOM")}
        checked = run("check", env=env)
        assert checked.returncode == 0, checked.stdout
        assert any(line.split()[:3] == ["BREVO_ATTR_FIRSTNAME", "PRENOM", "ok"]
                   for line in checked.stdout.splitlines())
        drained = run("listen", "--once", env=env)
        assert drained.returncode == 0, drained.stderr
        assert json.loads(drained.stdout.strip().splitlines()[-1])["synced"] == 1
        [contact] = contacts(base)
        assert contact["attributes"] == {"PRENOM": "Amélie", "NOM": "Poulain",
                                         "USED_WELCOME_OFFER": True}
        swept = run("reconcile", env=env)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        result = json.loads(swept.stdout)
        assert result["status"] == "done" and "no drift" in result["message"].lower()


def test_listen_and_reconcile_refuse_to_start_on_a_setup_problem(
        db: psycopg.Connection[Any], database_url: str) -> None:
    add_customer(db)
    with emulator_process() as base:
        env = {"DATABASE_URL": database_url, **brevo_env(base, BREVO_LIST_ID="99")}
        drained = run("listen", "--once", env=env)
        assert drained.returncode == 1
        assert "Brevo has no list 99" in drained.stderr and "PROBLEM" in drained.stderr
        # The same checks before the sweep starts: the same table, no sweep run.
        swept = run("reconcile", env=env)
        assert swept.returncode == 1
        assert "Brevo has no list 99" in swept.stderr and "PROBLEM" in swept.stderr
        assert swept.stdout == ""
        assert contacts(base) == []

