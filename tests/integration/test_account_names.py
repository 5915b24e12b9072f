"""A French-language Brevo account (NOM/PRENOM, no FIRSTNAME/LASTNAME) synced end to end with
the BREVO_ATTR_* settings: pushes, imports, the mirror, drift and the admin views."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.emulator import EmulatorConfig
from brevo_sync.reconcile import run_sweep
from brevo_sync.wiring import engine_from, prepare_brevo
from tests.conftest import TEST_API_KEY, TEST_LIST_ID
from tests.factories import add_customer, add_customers, customer
from tests.support.admin_app import client, running_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(import_base_ms=20.0, import_ms_per_contact=0.0, seed=1,
                          account_language="fr")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": database_url, "BREVO_API_KEY": TEST_API_KEY,
        "BREVO_BASE_URL": "http://brevo.test/v3", "BREVO_LIST_ID": str(TEST_LIST_ID),
        "BREVO_ATTR_FIRSTNAME": "PRENOM", "BREVO_ATTR_LASTNAME": "NOM",
        "BREVO_ATTR_USED_WELCOME_OFFER": "OFFRE_BIENVENUE",
    })


@pytest.fixture
async def http(settings: Settings, emulator: Any) -> AsyncIterator[httpx.AsyncClient]:
    started: Starlette
    async with running_app(settings, emulator) as started, client(started) as admin:
        yield admin


async def test_names_go_to_nom_and_prenom_and_stay_in_sync(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any, http: httpx.AsyncClient) -> None:
    report = await prepare_brevo(brevo, settings)
    assert report.ok and store.attributes.get("FIRSTNAME") is None
    assert store.attributes.get("OFFRE_BIENVENUE").type == "boolean"
    cid = add_customer(db, email="amelie@example.fr", first_name="Amélie", last_name="Poulain",
                       phone="+33 6 12 34 56 78", used_welcome_offer=True)
    first = await run_sweep(settings, pool, brevo, source="test")
    assert first.synced == 1 and first.failed == 0
    held = store.get(customer(db, cid)["brevo_contact_id"])
    assert held.attributes == {"PRENOM": "Amélie", "NOM": "Poulain", "SMS": "33612345678",
                               "OFFRE_BIENVENUE": True}
    assert held.list_ids == {TEST_LIST_ID}
    # The mirror reads the same names: nothing differs, the next sweep finds no drift.
    second = await run_sweep(settings, pool, brevo, source="test")
    assert second.counts["queued"] == 0 and second.counts["drift"]["attributes"] == 0
    row = (await http.get("/api/admin/views/matched")).json()["rows"][0]
    assert row["differs"] == [] and row["brevo"]["first_name"] == "Amélie"
    # A name changed in Brevo is seen, shown, and set back.
    held.attributes["PRENOM"] = "Amelie"
    store.touch(held)
    assert (await http.post("/api/admin/brevo/refresh", json={})).status_code == 200
    assert (await http.get("/api/admin/views/matched")).json()["rows"][0]["differs"] == [
        "first_name"]
    third = await run_sweep(settings, pool, brevo, source="test")
    assert third.counts["drift"]["attributes"] == 1 and third.synced == 1
    assert store.get(held.id).attributes["PRENOM"] == "Amélie"


async def test_a_backlog_is_imported_under_the_accounts_names(
        db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient, settings: Settings,
        store: Any) -> None:
    await prepare_brevo(brevo, settings)
    ids = add_customers(db, 220)
    engine = engine_from(settings, pool, brevo, source="test")
    report = await engine.drain()
    assert report.bulk_imports >= 1 and report.synced == 220
    for cid in ids:
        row = customer(db, cid)
        contact = store.get(row["brevo_contact_id"])
        assert contact.attributes["PRENOM"] == row["first_name"]
        assert contact.attributes["NOM"] == row["last_name"]
        assert contact.attributes["OFFRE_BIENVENUE"] is False
    assert (await run_sweep(settings, pool, brevo, source="test")).counts["queued"] == 0
