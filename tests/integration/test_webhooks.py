"""POST /api/webhooks/brevo: Brevo's marketing webhooks applied to a real database, and the
emulator delivering them, with the install command registering the webhook."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from api.app import create_app
from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Secret, Settings
from brevo_sync.db import Pool
from brevo_sync.reconcile import run_sweep
from brevo_sync.webhook_setup import install, last_delivery, ours, remove
from tests.factories import add_customer, customer
from tests.support.admin_app import admin_settings
from tests.support.admin_app import client as admin_client

pytestmark = pytest.mark.anyio

SECRET = "webhook-secret-0123456789abcdef"
BEARER = {"authorization": f"Bearer {SECRET}"}
URL = "http://127.0.0.1:8000/api/webhooks/brevo"


def now() -> int:
    return int(time.time())


def unsub(email: str, ts: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": 1, "camp_id": 3, "email": email, "event": "unsubscribe", "ts_event": ts or now(),
            "date_event": "2001-01-01 00:00:00", "ts": (ts or now()) + 3600, **extra}


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return dataclasses.replace(admin_settings(settings), webhook_secret=Secret(SECRET))


@pytest.fixture
async def app(hook_settings: Settings, emulator: Any) -> AsyncIterator[Starlette]:
    application = create_app(hook_settings, brevo_transport=httpx.ASGITransport(app=emulator))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://api.test") as client:
        yield client


async def post(http: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    return await http.post("/api/webhooks/brevo", json=body, headers={**BEARER, **headers})


def history(db: psycopg.Connection[Any], cid: Any, action: str) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM brevo_sync.history WHERE customer_id = %s AND action = %s",
                      (cid, action)).fetchall()


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- authentication and bad bodies ----------------------------------------------------------


async def test_with_no_secret_configured_every_call_is_refused(
        settings: Settings, emulator: Any) -> None:
    application = create_app(settings, brevo_transport=httpx.ASGITransport(app=emulator))
    async with application.router.lifespan_context(application), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="https://x") as client:
        answer = await client.post("/api/webhooks/brevo", json=unsub("a@b.c"),
                                   headers={"authorization": "Bearer "})
    assert answer.status_code == 401 and answer.json() == {"error": "unauthorized"}


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"},
                                     {"authorization": SECRET}])
async def test_a_wrong_or_missing_bearer_is_401(http: httpx.AsyncClient,
                                                headers: dict[str, str]) -> None:
    answer = await http.post("/api/webhooks/brevo", json=unsub("a@b.c"), headers=headers)
    assert answer.status_code == 401


async def test_no_origin_nor_admin_credentials_are_needed(
        http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db, email="Ann@Example.com", marketing_opt_in=True)
    answer = await post(http, unsub("ann@example.com", now() + 5))
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 1
    assert customer(db, cid)["marketing_opt_in"] is False


@pytest.mark.parametrize("content", [b"not json", b"42", b"[]", b"{\"event\": \"spam\"}", b""])
async def test_a_malformed_body_is_a_400_json_error(http: httpx.AsyncClient,
                                                    content: bytes) -> None:
    answer = await http.post("/api/webhooks/brevo", content=content,
                             headers={**BEARER, "content-type": "application/json"})
    assert answer.status_code == 400 and "error" in answer.json()


async def test_a_body_over_one_megabyte_is_a_413_even_without_content_length(
        http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65_536

    answer = await http.post("/api/webhooks/brevo", content=chunks(), headers=BEARER)
    assert answer.status_code == 413 and "error" in answer.json()


# --- effects --------------------------------------------------------------------------------


async def test_an_unsubscribe_opts_out_through_the_sweeps_path_once(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], app: Starlette) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    first = await post(http, unsub("ANN@example.com", now() + 5))
    again = await post(http, unsub("ANN@example.com", now() + 5))
    assert first.json()["applied"] == 1 and again.json()["duplicate"] == 1
    assert customer(db, cid)["marketing_opt_in"] is False
    [logged] = history(db, cid, "unsubscribe")
    assert logged["source"] == "webhook"
    async with admin_client(app) as admin:
        shown = (await admin.get("/api/admin/history", params={"source": "webhook"})).json()
    assert shown["total"] == 1 and shown["rows"][0]["source"] == "webhook"
    events = db.execute("SELECT * FROM brevo_sync.webhook_events").fetchall()
    assert len(events) == 1 and events[0]["outcome"] == "applied"
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.queue WHERE customer_id = %s",
                      (cid,)).fetchone()["n"] == 1


async def test_spam_and_leaving_the_sync_list_opt_out_another_list_does_not(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], hook_settings: Settings) -> None:
    spam = add_customer(db, email="spam@example.com", marketing_opt_in=True)
    left = add_customer(db, email="left@example.com", marketing_opt_in=True)
    other = add_customer(db, email="other@example.com", marketing_opt_in=True)
    sync_list = hook_settings.brevo_list_id
    answer = await post(http, [
        {"event": "spam", "email": "spam@example.com", "ts_event": now() + 5, "camp_id": 1},
        unsub("left@example.com", now() + 5, list_id=[sync_list]),
        unsub("other@example.com", now() + 5, list_id=[999])])
    assert answer.status_code == 200
    assert customer(db, spam)["marketing_opt_in"] is False
    assert customer(db, left)["marketing_opt_in"] is False
    assert customer(db, other)["marketing_opt_in"] is True


async def test_an_unknown_email_is_answered_2xx_and_changes_nothing(
        http: httpx.AsyncClient) -> None:
    answer = await post(http, unsub("nobody@example.com"))
    assert answer.status_code == 200 and answer.json()["unknown"] == 1


async def test_an_old_unsubscribe_never_undoes_a_later_opt_in(
        http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=False)
    db.execute("UPDATE customers SET marketing_opt_in = true WHERE id = %s", (cid,))
    answer = await post(http, unsub("ann@example.com", now() - 3600))
    assert answer.json()["stale"] == 1
    assert customer(db, cid)["marketing_opt_in"] is True
    # A newer one applies.
    await post(http, unsub("ann@example.com", int(time.time()) + 5))
    assert customer(db, cid)["marketing_opt_in"] is False


async def test_events_of_a_batch_are_applied_in_the_order_of_ts_event(
        http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    addition = {"event": "list_addition", "email": "ann@example.com", "ts": now() + 20,
                "list_id": [2]}
    answer = await post(http, [addition, unsub("ann@example.com", now() + 10)])
    assert answer.json()["applied"] == 2
    assert customer(db, cid)["marketing_opt_in"] is False
    # Delivered late, an unsubscribe older than the list addition is stale.
    late = await post(http, unsub("ann@example.com", now() + 15, camp_id=9))
    assert late.json()["stale"] == 1


async def test_a_hard_bounce_is_recorded_and_shown(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], app: Starlette) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    answer = await post(http, {"event": "hard_bounce", "email": "ann@example.com",
                               "ts_event": now(), "reason": "mailbox does not exist"})
    assert answer.json()["applied"] == 1
    [logged] = history(db, cid, "hard_bounce")
    assert "undeliverable" in logged["message"] and logged["source"] == "webhook"
    row = db.execute("SELECT * FROM brevo_sync.webhook_contacts WHERE email_lower = %s",
                     ("ann@example.com",)).fetchone()
    assert row["hard_bounce_at"] is not None and row["hard_bounce_reason"]
    assert customer(db, cid)["marketing_opt_in"] is True
    async with admin_client(app) as admin:
        shown = (await admin.get(f"/api/admin/customers/{cid}")).json()
        page = (await admin.get("/admin/clients")).text
    assert shown["hard_bounce_at"] == row["hard_bounce_at"].isoformat()
    assert "email undeliverable (hard bounce at" in page


async def test_a_contact_deleted_leaves_the_mirror_and_an_update_refreshes_it(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], pool: Pool, brevo: BrevoClient,
        hook_settings: Settings, store: Any) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    assert (await run_sweep(hook_settings, pool, brevo, source="test")).status == "done"
    mirrored = "SELECT * FROM brevo_sync.contacts WHERE email_lower = 'ann@example.com'"
    assert db.execute(mirrored).fetchone() is not None
    await post(http, {"event": "contact_deleted", "email": "ann@example.com", "ts": now()})
    assert db.execute(mirrored).fetchone() is None
    # Updated in Brevo later: the answer does not wait, the mirror reads it again after.
    contact = store.get(customer(db, cid)["brevo_contact_id"])
    contact.attributes["FIRSTNAME"] = "Changed"
    answer = await post(http, {"event": "contact_updated", "email": "ann@example.com",
                               "ts": now() + 10, "content": [{}]})
    assert answer.status_code == 200
    await until(lambda: db.execute(mirrored).fetchone() is not None)
    assert db.execute(mirrored).fetchone()["first_name"] == "Changed"


# --- the emulator delivers, the command installs ----------------------------------------------


async def test_install_is_idempotent_and_status_and_remove_find_ours(
        brevo: BrevoClient, pool: Pool, emulator_app: Any) -> None:
    done, first = await install(brevo, URL, Secret(SECRET))
    again, second = await install(brevo, URL, Secret(SECRET))
    assert (done, again, first) == ("created", "updated", second)
    hooks = ours(await brevo.list_webhooks("marketing"))
    assert [h["id"] for h in hooks] == [first]
    assert hooks[0]["auth"] == {"type": "bearer", "token": SECRET} and hooks[0]["batched"]
    assert (await last_delivery(pool))["last_received_at"] is None
    assert await remove(brevo, None) == [first]
    assert await brevo.list_webhooks("marketing") == []


async def test_an_unsubscribe_in_the_emulator_reaches_the_database_through_the_route(
        brevo: BrevoClient, pool: Pool, db: psycopg.Connection[Any], app: Starlette,
        emulator: Any, emulator_app: Any, hook_settings: Settings) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    assert (await run_sweep(hook_settings, pool, brevo, source="test")).status == "done"
    await install(brevo, "http://localhost/api/webhooks/brevo", Secret(SECRET))
    hooks = emulator_app.state.webhooks
    hooks.transport = httpx.ASGITransport(app=app)
    emulator_app.state.config.webhook_duplicates = 1
    emulator_app.state.config.webhook_reorder = True
    emulator_app.state.config.webhook_delay_ms = 20
    contact_id = customer(db, cid)["brevo_contact_id"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator),
                                 base_url="http://brevo.test") as control:
        assert (await control.post(f"/_emulator/contacts/{contact_id}/unsubscribe",
                                   json={})).status_code == 200
    await until(lambda: customer(db, cid)["marketing_opt_in"] is False)
    await until(lambda: not hooks.busy)
    assert [d.status for d in hooks.deliveries] == [200, 200]
    assert len(history(db, cid, "unsubscribe")) == 1
    assert (await last_delivery(pool))["events"] == 1


async def test_a_refused_delivery_is_repaired_by_the_next_sweep(
        brevo: BrevoClient, pool: Pool, db: psycopg.Connection[Any], emulator: Any,
        emulator_app: Any, hook_settings: Settings) -> None:
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    assert (await run_sweep(hook_settings, pool, brevo, source="test")).status == "done"
    await install(brevo, "http://localhost/api/webhooks/brevo", Secret("another-secret"))
    down = Starlette()  # the API is down: every delivery fails
    hooks = emulator_app.state.webhooks
    hooks.transport = httpx.ASGITransport(app=down)
    contact_id = customer(db, cid)["brevo_contact_id"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator),
                                 base_url="http://brevo.test") as control:
        await control.post(f"/_emulator/contacts/{contact_id}/blocklist")
    await until(lambda: not hooks.busy)
    assert [d.status for d in hooks.deliveries] == [404]
    assert customer(db, cid)["marketing_opt_in"] is True
    await run_sweep(hook_settings, pool, brevo, source="test")
    assert customer(db, cid)["marketing_opt_in"] is False


async def test_an_unsubscribe_in_the_second_the_customer_opted_in_is_applied(
        http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> None:
    """Brevo's ts_event is whole seconds: within the opt-in's second the unsubscribe wins."""
    cid = add_customer(db, email="ann@example.com", marketing_opt_in=True)
    created = db.execute("SELECT floor(extract(epoch FROM created_at))::bigint AS s"
                         " FROM customers WHERE id = %s", (cid,)).fetchone()["s"]
    answer = await post(http, unsub("ann@example.com", created))
    assert answer.json()["applied"] == 1
    assert customer(db, cid)["marketing_opt_in"] is False


async def test_the_same_delivery_twice_at_once_is_applied_once(
        http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> None:
    ids = [add_customer(db, email=f"p{i}@example.com", marketing_opt_in=True) for i in range(20)]
    ts = now() + 5
    body = [unsub(f"p{i}@example.com", ts) for i in range(20)]
    first, second = await asyncio.gather(post(http, body), post(http, body[::-1]))
    assert first.status_code == second.status_code == 200
    assert first.json().get("applied", 0) + second.json().get("applied", 0) == 20
    assert all(not customer(db, cid)["marketing_opt_in"] for cid in ids)
    logged = db.execute("SELECT count(*) AS n FROM brevo_sync.history"
                        " WHERE action = 'unsubscribe'").fetchone()["n"]
    assert logged == 20


async def test_a_customer_row_held_by_the_application_answers_503_for_brevo_to_retry(
        http: httpx.AsyncClient, db: psycopg.Connection[Any], database_url: str) -> None:
    cid = add_customer(db, email="held@example.com", marketing_opt_in=True)
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", (cid,))
        answer = await post(http, unsub("held@example.com", now() + 5))
        holder.rollback()
    assert answer.status_code == 503 and "error" in answer.json()
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.webhook_events").fetchone()["n"] == 0
    retried = await post(http, unsub("held@example.com", now() + 5))
    assert retried.json()["applied"] == 1
