"""Sync All's dry run against a real PostgreSQL and the Brevo emulator: the plan counts and
shows each change the sweep would make, reads Brevo only, writes nothing in the database, and
the sweep that follows does what the plan said."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from bench.support import emulator_process
from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.plan import Plan
from brevo_sync.reconcile import ALREADY_RUNNING, plan_sweep, sweep_lock
from tests.factories import add_customer, add_customers, customer

pytestmark = pytest.mark.anyio

SYNC_ALL = "/api/admin/customers/sync-all"
# What the sweep's state is made of: a dry run leaves every row of these as it was.
TABLES = {
    "customers": "SELECT * FROM public.customers ORDER BY id",
    "sync_state": "SELECT * FROM brevo_sync.sync_state ORDER BY customer_id",
    "queue": "SELECT * FROM brevo_sync.queue ORDER BY customer_id",
    "history": "SELECT * FROM brevo_sync.history ORDER BY id",
    "runs": "SELECT * FROM brevo_sync.runs ORDER BY id",
}


def snapshot(db: psycopg.Connection[Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: [dict(r) for r in db.execute(query).fetchall()]
            for name, query in TABLES.items()}


def writes(calls: Counter[tuple[str, str, int]]) -> dict[tuple[str, str, int], int]:
    """The emulator's requests other than reads."""
    return {key: n for key, n in calls.items() if key[0] != "GET"}


def contact_of(db: psycopg.Connection[Any], cid: UUID) -> int:
    row = db.execute("SELECT brevo_contact_id FROM customers WHERE id = %s", (cid,)).fetchone()
    assert row is not None and row["brevo_contact_id"] is not None
    return int(row["brevo_contact_id"])


@dataclasses.dataclass
class Mix:
    """A synced account, then one or two of each change, none of them queued."""

    created: list[UUID]
    updated: UUID
    renamed: UUID
    removed: UUID
    opted_out: UUID
    unsubscribed: UUID


async def arrange_mix(db: psycopg.Connection[Any], brevo: BrevoClient, store: Any,
                      sweep: Any) -> Mix:
    synced = add_customers(db, 12)
    await sweep()
    updated, renamed, removed, opted_out, unsubscribed = synced[:5]
    await brevo.update_contact(contact_of(db, updated), attributes={"FIRSTNAME": "Someone"})
    db.execute("UPDATE customers SET email = 'renamed@example.com' WHERE id = %s", (renamed,))
    db.execute("DELETE FROM customers WHERE id = %s", (removed,))
    db.execute("UPDATE customers SET marketing_opt_in = false WHERE id = %s", (opted_out,))
    contact = store.get(contact_of(db, unsubscribed))
    contact.email_blacklisted = True  # the person unsubscribed in Brevo
    store.touch(contact)
    created = [add_customer(db, email="new1@example.com", first_name="Nora", last_name="New"),
               add_customer(db, email="new2@example.com")]
    db.execute("DELETE FROM brevo_sync.queue")  # only a sweep can find these changes
    return Mix(created, updated, renamed, removed, opted_out, unsubscribed)


def first_ids(body: dict[str, Any], change: str) -> list[str]:
    return [row["customer_id"] for row in body["rows"][change]]


async def test_the_dry_run_shows_each_change_and_changes_nothing(
        db: psycopg.Connection[Any], http: httpx.AsyncClient, brevo: BrevoClient,
        store: Any, emulator_app: Any) -> None:
    async def sweep() -> dict[str, Any]:
        response = await http.post(SYNC_ALL, json={})
        assert response.status_code == 200, response.text
        return dict(response.json())

    mix = await arrange_mix(db, brevo, store, sweep)
    before, writes_before = snapshot(db), writes(emulator_app.state.calls)

    response = await http.post(SYNC_ALL, json={"dry_run": True})

    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["dry_run"] is True and plan["status"] == "planned"
    assert plan["counts"] == {"creates": 2, "updates": 1, "renames": 1, "removals": 1,
                              "blocklists": 2}
    assert plan["unsubscribes"] == 1 and plan["opted_in"] == 11
    assert first_ids(plan, "creates") == sorted(str(i) for i in mix.created)
    nora = next(r for r in plan["rows"]["creates"] if r["email"] == "new1@example.com")
    assert nora["name"] == "Nora New" and nora["change"] == "create the contact; add to list 2"
    [update] = plan["rows"]["updates"]
    assert update["customer_id"] == str(mix.updated)
    assert update["change"].startswith("FIRSTNAME Someone → First")
    [rename] = plan["rows"]["renames"]
    assert rename["customer_id"] == str(mix.renamed) and rename["email"] == "renamed@example.com"
    assert rename["change"].startswith("email customer") and "→ renamed@example.com" in \
        rename["change"]
    [removal] = plan["rows"]["removals"]
    assert removal["customer_id"] == str(mix.removed) and removal["name"] == "(deleted)"
    assert removal["change"].endswith("from list 2 (deleted in the database)")
    blocklists = {row["customer_id"]: row["change"] for row in plan["rows"]["blocklists"]}
    assert blocklists[str(mix.opted_out)].startswith("blocklist contact")
    assert blocklists[str(mix.unsubscribed)] == (
        "opt out here: blocklisted in Brevo (unsubscribe, complaint or bounce)")
    assert plan["message"].startswith("Sync All would create 2, update 1, rename 1, remove 1,"
                                      " blocklist 2")

    assert writes(emulator_app.state.calls) == writes_before, "the dry run wrote to Brevo"
    assert snapshot(db) == before, "the dry run changed the database"

    # The sweep then does what the plan said, and a new plan finds nothing left to do.
    done = await sweep()
    assert done["counts"]["plan"] == plan["counts"] and done["failed"] == 0
    assert {k: done["counts"].get(k) for k in ("created", "updated", "removed", "blocklisted",
                                               "unsubscribed")} == {
        "created": 2, "updated": 2, "removed": 1, "blocklisted": 1, "unsubscribed": 1}
    assert store.get(contact_of(db, mix.opted_out)).email_blacklisted
    again = (await http.post(SYNC_ALL, json={"dry_run": True})).json()
    assert again["counts"] == dict.fromkeys(plan["counts"], 0)
    assert again["message"] == "Nothing to change: Brevo matches the 11 opted-in customers"


async def test_the_plan_shows_the_first_five_rows_of_many(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient,
        settings: Settings) -> None:
    ids = sorted(add_customers(db, 8))
    planned = await plan_sweep(settings, pool, brevo)
    assert isinstance(planned, Plan)
    assert planned.counts()["creates"] == 8
    assert [row.customer_id for row in planned.rows["creates"]] == ids[:5]
    assert planned.text().splitlines()[-1] == "  … and 3 more"


async def test_the_plan_says_when_the_safeguard_would_refuse(
        db: psycopg.Connection[Any], http: httpx.AsyncClient) -> None:
    ids = add_customers(db, 10)
    assert (await http.post(SYNC_ALL, json={})).status_code == 200
    db.execute("UPDATE customers SET marketing_opt_in = false WHERE id = ANY(%s)", (ids[:6],))
    db.execute("DELETE FROM brevo_sync.queue")
    plan = (await http.post(SYNC_ALL, json={"dry_run": True})).json()
    assert plan["status"] == "refused" and "6 of 10" in plan["refused"]
    assert plan["counts"]["blocklists"] == 6
    assert plan["message"] == f"Sync All would change nothing: {plan['refused']}"


async def test_a_dry_run_while_a_sweep_runs_is_a_conflict(
        http: httpx.AsyncClient, database_url: str) -> None:
    async with sweep_lock(database_url) as locked:
        assert locked
        response = await http.post(SYNC_ALL, json={"dry_run": True})
    assert response.status_code == 409 and response.json()["error"] == ALREADY_RUNNING


async def test_a_dry_run_creates_no_missing_attribute(
        db: psycopg.Connection[Any], http: httpx.AsyncClient, emulator_app: Any) -> None:
    """A fresh account lacks USED_WELCOME_OFFER: the sweep would create it, a plan says so."""
    add_customer(db)
    response = await http.post(SYNC_ALL, json={"dry_run": True})
    assert response.status_code == 200, response.text
    assert response.json()["setup"] == [
        "BREVO_ATTR_USED_WELCOME_OFFER USED_WELCOME_OFFER: missing: create it as boolean"
        " (the sweep creates it first)"]
    assert writes(emulator_app.state.calls) == {}


@pytest.mark.parametrize("body", [b"[true]", b'"dry_run"', b'{"dry_run": "yes"}',
                                  b'{"dry_run": 1}', b'{"dry_run": null}'])
async def test_a_bad_dry_run_body_is_refused(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post(SYNC_ALL, content=body,
                               headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("the request body must be a JSON object",
                                        "dry_run must be true or false")


async def test_without_dry_run_sync_all_runs_as_before(
        db: psycopg.Connection[Any], http: httpx.AsyncClient) -> None:
    add_customers(db, 2)
    body = (await http.post(SYNC_ALL, json={"dry_run": False})).json()
    assert body["success"] and body["synced"] == 2 and "dry_run" not in body
    assert body["counts"]["plan"]["creates"] == 2


# --- the command line -------------------------------------------------------------------


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brevo_sync.cli", *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def fake_brevo() -> Iterator[str]:
    with emulator_process() as base:
        yield base


def emulator_writes(base: str) -> int:
    calls = httpx.get(base.removesuffix("/v3") + "/_emulator/calls").json()["calls"]
    return sum(c["count"] for c in calls if c["method"] != "GET")


def test_reconcile_dry_run_prints_the_plan_and_changes_nothing(
        db: psycopg.Connection[Any], database_url: str, fake_brevo: str) -> None:
    env = {"DATABASE_URL": database_url, "BREVO_API_KEY": "xkeysib-cli-test",
           "BREVO_BASE_URL": fake_brevo, "BREVO_LIST_ID": "2"}
    ids = add_customers(db, 3)
    assert run("reconcile", env=env).returncode == 0
    last_name = customer(db, ids[0])["last_name"]
    db.execute("UPDATE customers SET last_name = 'Hopper' WHERE id = %s", (ids[0],))
    db.execute("UPDATE customers SET marketing_opt_in = false WHERE id = %s", (ids[1],))
    new = add_customer(db, email="grace@example.com", first_name="Grace", last_name="Hopper")
    db.execute("DELETE FROM brevo_sync.queue")
    before, written = snapshot(db), emulator_writes(fake_brevo)

    as_json = run("reconcile", "--dry-run", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert plan["counts"] == {"creates": 1, "updates": 1, "renames": 0, "removals": 0,
                              "blocklists": 1}
    assert first_ids(plan, "creates") == [str(new)]
    assert first_ids(plan, "updates") == [str(ids[0])]
    assert plan["rows"]["updates"][0]["change"] == f"LASTNAME {last_name} → Hopper"

    text = run("reconcile", "--dry-run", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == ("Sync All would create 1, update 1, rename 0, remove 0, blocklist 1")
    assert "creates (1):" in lines and "blocklists (1):" in lines
    assert f"  {new}  Grace Hopper <grace@example.com>: create the contact; add to list 2" \
        in lines
    assert "xkeysib-cli-test" not in text.stdout + text.stderr

    assert emulator_writes(fake_brevo) == written, "the dry run wrote to Brevo"
    assert snapshot(db) == before, "the dry run changed the database"
