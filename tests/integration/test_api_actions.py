"""The admin's buttons through the API: push one, sync all, refresh from Brevo."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb
from starlette.applications import Starlette

from brevo_sync.brevo import BrevoClient
from brevo_sync.reconcile import ALREADY_RUNNING, sweep_lock
from brevo_sync.seed import REFUSED_EMAIL
from tests.factories import add_customer
from tests.support.admin_app import store

pytestmark = pytest.mark.anyio


async def test_push_creates_the_contact_and_answers_with_the_updated_row(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, emulator: Any
) -> None:
    cid = add_customer(db, email="push.me@example.com", first_name="Łukasz")
    response = await http.post(f"/api/admin/customers/{cid}/push")
    assert response.status_code == 200, response.text
    body = response.json()
    contact = store(emulator).get_by_email("push.me@example.com")
    assert contact is not None
    assert body["success"] and body["customerId"] == str(cid)
    assert body["email"] == "push.me@example.com" and body["brevoId"] == contact["id"]
    row = body["row"]
    assert row["in_brevo"] and row["status"] == "in_sync" and not row["can_push"]
    assert row["brevo_id"] == contact["id"] and row["last_synced_at"] is not None


async def test_push_reports_brevos_refusal_on_the_row(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    cid = add_customer(db, email=REFUSED_EMAIL)
    body = (await http.post(f"/api/admin/customers/{cid}/push")).json()
    assert not body["success"] and body["message"] == "Invalid email address"
    assert body["row"]["status"] == "error" and body["row"]["error"] == "Invalid email address"
    assert body["row"]["can_push"] and not body["row"]["in_brevo"]


async def test_push_while_another_worker_holds_the_customer_is_a_conflict(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    cid = add_customer(db)
    db.execute(
        "UPDATE brevo_sync.queue SET claimed_until = now() + interval '1 hour',"
        " claimed_by = 'another-worker' WHERE customer_id = %s",
        (cid,),
    )
    response = await http.post(f"/api/admin/customers/{cid}/push")
    assert response.status_code == 409 and "another worker" in response.json()["error"]


@pytest.mark.parametrize(
    "raw",
    [
        "not-a-uuid",
        "123",
        "'; DROP TABLE customers; --",
        "<script>",
        "00000000-0000-0000-0000-00000000000g",
    ],
)
async def test_a_malformed_customer_id_is_a_json_400(http: httpx.AsyncClient, raw: str) -> None:
    for method, suffix in (("POST", "/push"), ("GET", "")):
        response = await http.request(method, f"/api/admin/customers/{raw}{suffix}")
        assert response.status_code == 400, (method, raw, response.text)
        assert response.json() == {"error": "the customer id must be a UUID"}


async def test_an_unknown_customer_is_a_json_404_and_nothing_is_queued(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    unknown = "2b1e4c5d-0000-4000-8000-000000000000"
    for method, suffix in (("POST", "/push"), ("GET", "")):
        response = await http.request(method, f"/api/admin/customers/{unknown}{suffix}")
        assert response.status_code == 404 and response.json()["error"]
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.queue").fetchone() == {"n": 0}


async def test_sync_all_status_has_the_seed_shape(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db)
    add_customer(db, marketing_opt_in=False)
    body = (await http.get("/api/admin/customers/sync-all")).json()
    assert {k: body[k] for k in ("total", "synced", "pending", "failed", "running")} == {
        "total": 1,
        "synced": 0,
        "pending": 1,
        "failed": 0,
        "running": None,
    }


async def test_sync_all_pushes_everyone_and_lists_failures_with_their_reason(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, emulator: Any
) -> None:
    ok = [add_customer(db) for _ in range(3)]
    bad = add_customer(db, email=REFUSED_EMAIL)
    add_customer(db, marketing_opt_in=False)
    response = await http.post("/api/admin/customers/sync-all")
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["success"] and body["failed"] == 1
    assert isinstance(body["message"], str) and isinstance(body["total"], int)
    assert body["synced"] == sum(r["success"] for r in body["results"])
    by_id = {r["customerId"]: r for r in body["results"]}
    assert all(by_id[str(c)]["success"] and by_id[str(c)]["brevoId"] for c in ok)
    assert by_id[str(bad)] == {
        **by_id[str(bad)],
        "success": False,
        "brevoId": None,
        "email": REFUSED_EMAIL,
        "message": "Invalid email address",
    }
    assert store(emulator).count() == 3
    status = (await http.get("/api/admin/customers/sync-all")).json()
    assert (status["total"], status["synced"], status["pending"], status["failed"]) == (4, 3, 0, 1)
    assert status["running"] is None


async def test_sync_all_while_a_sweep_runs_is_a_conflict(
    http: httpx.AsyncClient, database_url: str
) -> None:
    async with sweep_lock(database_url) as locked:
        assert locked
        response = await http.post("/api/admin/customers/sync-all")
    assert response.status_code == 409
    assert response.json()["error"] == ALREADY_RUNNING


async def test_sync_all_status_shows_the_running_sweeps_counts(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    run = db.execute(
        "INSERT INTO brevo_sync.runs (kind, source, counts) VALUES"
        " ('reconcile', 'admin', %s) RETURNING id",
        (Jsonb({"phase": "drain", "synced": 7, "remaining": 3}),),
    ).fetchone()
    assert run is not None
    running = (await http.get("/api/admin/customers/sync-all")).json()["running"]
    assert running["run_id"] == run["id"]
    assert running["counts"] == {"phase": "drain", "synced": 7, "remaining": 3}
    db.execute("UPDATE brevo_sync.runs SET started_at = now() - interval '2 hours'")
    assert (await http.get("/api/admin/customers/sync-all")).json()["running"] is None


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b"null",
        b'"x"',
        b"\xff\xfe",
        b'{"budget": 0}',
        b'{"budget": "soon"}',
        b'{"budget": true}',
        b'{"budget": 1e9}',
    ],
)
async def test_sync_all_refuses_a_bad_body(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post(
        "/api/admin/customers/sync-all", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]


async def test_an_oversized_body_is_a_413(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/admin/brevo/refresh", content=b" " * 20_000)
    assert response.status_code == 413 and response.json()["error"]


async def test_refresh_brings_contacts_made_in_brevo_into_the_mirror(
    http: httpx.AsyncClient, brevo: BrevoClient
) -> None:
    await brevo.create_contact("made.in.brevo@example.com", {"FIRSTNAME": "Mia"})
    response = await http.post("/api/admin/brevo/refresh", json={"full": True})
    assert response.status_code == 200, response.text
    assert response.json()["listed"] == 1 and response.json()["brevoCount"] == 1
    rows = (await http.get("/api/admin/views/brevo")).json()["rows"]
    assert [(r["email"], r["first_name"], r["brevo_only"]) for r in rows] == [
        ("made.in.brevo@example.com", "Mia", True)
    ]


@pytest.mark.parametrize("body", [b"{", b'{"full": "yes"}', b"[true]"])
async def test_refresh_refuses_a_bad_body(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post(
        "/api/admin/brevo/refresh", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]


async def test_brevo_refusing_the_key_is_a_503_pause_without_the_key(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient, emulator: Any
) -> None:
    """The account's failure, not the customer's: 503 with Brevo's reason, the customer left
    pending with nothing recorded against them."""
    emulator.app.state.config.api_key = "another-key"
    cid = add_customer(db)
    response = await http.post(f"/api/admin/customers/{cid}/push")
    assert response.status_code == 503 and response.json()["error"].startswith("Brevo")
    assert "Key not found" in response.json()["error"]
    assert response.json()["paused"]["status"] == 401
    assert app.state.brevo._api_key.reveal() not in response.text
    queued = db.execute("SELECT attempts, claimed_until FROM brevo_sync.queue"
                        " WHERE customer_id = %s", (cid,)).fetchone()
    assert queued == {"attempts": 0, "claimed_until": None}
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.history").fetchone() == {"n": 0}
    assert (await http.get("/readyz")).json()["status"] == "paused"
    emulator.app.state.config.api_key = None  # the key works again: the next push ends it
    again = await http.post(f"/api/admin/customers/{cid}/push")
    assert again.status_code == 200 and again.json()["outcome"] == "ok"
    assert (await http.get("/readyz")).json() == {"status": "ok"}
