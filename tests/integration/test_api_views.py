"""The four views and the history as JSON, on a real PostgreSQL and the Brevo emulator."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from brevo_sync import views
from brevo_sync.brevo import BrevoClient
from brevo_sync.seed import REFUSED_EMAIL
from brevo_sync.wiring import engine_from, prepare_brevo
from tests.factories import add_customer

pytestmark = pytest.mark.anyio


async def sync(app: Starlette) -> None:
    """Push everything queued, as the listener would."""
    await prepare_brevo(app.state.brevo)
    await engine_from(
        app.state.settings, app.state.pool, app.state.brevo, source="listener"
    ).drain()
    app.state.totals.clear()


async def view(http: httpx.AsyncClient, name: str, **params: Any) -> dict[str, Any]:
    response = await http.get(f"/api/admin/views/{name}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def emails(page: dict[str, Any]) -> list[str]:
    return [row["email"] for row in page["rows"]]


async def test_neon_view_pages_through_every_customer(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    for letter in "ecabd":
        add_customer(db, email=f"{letter}@example.com")
    page = await view(http, "neon", per_page=2, page=2)
    assert (page["total"], page["pages"], page["page"]) == (5, 3, 2)
    assert emails(page) == ["c@example.com", "d@example.com"]


async def test_views_split_customers_by_whether_brevo_holds_them(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient, brevo: BrevoClient
) -> None:
    add_customer(db, email="alice@example.com")
    add_customer(db, email="Bob@Example.com")
    add_customer(db, email="carol@example.com", marketing_opt_in=False)
    await sync(app)
    add_customer(db, email="dave@example.com")  # queued, not pushed yet
    await brevo.create_contact("lead@brevo-only.example", {"FIRSTNAME": "Lea"})
    assert (await http.post("/api/admin/brevo/refresh")).status_code == 200

    counts = (await http.get("/api/admin/views")).json()["counts"]
    assert counts == {"neon": 4, "brevo": 3, "matched": 2, "unmatched": 1}
    assert emails(await view(http, "matched")) == ["alice@example.com", "Bob@Example.com"]
    unmatched = await view(http, "unmatched")
    assert emails(unmatched) == ["dave@example.com"]
    assert unmatched["rows"][0]["status"] == "pending" and unmatched["rows"][0]["can_push"]
    contacts = {row["email"]: row for row in (await view(http, "brevo"))["rows"]}
    assert contacts["lead@brevo-only.example"]["brevo_only"]
    assert not contacts["bob@example.com"]["brevo_only"]
    neon = {row["email"]: row for row in (await view(http, "neon"))["rows"]}
    assert (
        neon["alice@example.com"]["in_brevo"] and neon["alice@example.com"]["status"] == "in_sync"
    )
    assert not neon["alice@example.com"]["can_push"]
    assert neon["alice@example.com"]["last_synced_at"] is not None
    assert neon["carol@example.com"]["status"] == "opted_out"
    assert not neon["carol@example.com"]["in_brevo"] and not neon["carol@example.com"]["can_push"]


async def test_an_error_row_carries_brevos_message(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient
) -> None:
    add_customer(db, email=REFUSED_EMAIL)
    await sync(app)
    row = (await view(http, "unmatched"))["rows"][0]
    assert row["status"] == "error" and row["error"] == "Invalid email address"
    assert row["can_push"] and not row["in_brevo"]
    status = (await http.get("/api/admin/customers/sync-all")).json()
    assert (status["total"], status["synced"], status["pending"], status["failed"]) == (1, 0, 0, 1)


async def test_matched_view_names_the_fields_that_differ(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient, brevo: BrevoClient
) -> None:
    add_customer(db, email="ada@example.com", first_name="Ada", phone="+33 6 12 34 56 78")
    await sync(app)
    assert (await view(http, "matched"))["rows"][0]["differs"] == []
    contact = await brevo.get_contact_by_email("ada@example.com")
    assert contact is not None
    await brevo.update_contact(contact.id, attributes={"FIRSTNAME": "Adelaide"})
    assert (await http.post("/api/admin/brevo/refresh", json={"full": True})).status_code == 200
    row = (await view(http, "matched"))["rows"][0]
    assert row["differs"] == ["first_name"]
    assert row["brevo"]["first_name"] == "Adelaide"


async def test_search_ignores_case_and_accents_stay_intact(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db, email="zoe@example.org", first_name="Zoë", last_name="Müller")
    add_customer(db, email="jose@example.com", first_name="José", last_name="García")
    assert emails(await view(http, "neon", q="MÜLLER")) == ["zoe@example.org"]
    assert emails(await view(http, "neon", q="zoë müller")) == ["zoe@example.org"]
    assert emails(await view(http, "neon", q="EXAMPLE.COM")) == ["jose@example.com"]
    page = await view(http, "neon", q="garc")
    assert (page["total"], page["q"]) == (1, "garc")


async def test_search_takes_like_wildcards_literally(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db, email="a_b@example.com")
    add_customer(db, email="axb@example.com")
    assert emails(await view(http, "neon", q="a_b")) == ["a_b@example.com"]
    assert (await view(http, "neon", q="%"))["total"] == 0


@pytest.mark.parametrize(
    "text",
    ["'; DROP TABLE customers; --", "<script>alert(1)</script>", "\\", "%' OR '1'='1", "名前"],
)
async def test_search_with_metacharacters_is_only_text(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, text: str
) -> None:
    add_customer(db, email="kept@example.com")
    for name in views.VIEWS:
        page = await view(http, name, q=text)
        assert page["total"] == 0 and page["rows"] == [] and page["q"] == text
    assert (await view(http, "neon"))["total"] == 1


@pytest.mark.parametrize("sort", ["email", "name", "created"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_paging_either_way_lists_each_row_once_in_order(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, sort: str, direction: str
) -> None:
    """Pages past the middle are read backwards from the end; the result must not show it."""
    # ASCII sort keys: the test database's collation may be C.UTF-8 or en_US.
    names = [
        ("Nora", "Nowak"),
        ("ana", "silva"),
        ("Emile", "Martin"),
        ("Ana", "Silva"),
        ("Liam", "Ortiz"),
        ("Wei", "Nowak"),
        ("Yuki", "Tanaka"),
    ]
    for n, (first, last) in enumerate(names):
        add_customer(db, email=f"c{(n * 3) % 7}@example.com", first_name=first, last_name=last)
    rows = db.execute(
        "SELECT id, lower(email) AS e, lower(last_name) AS l, "
        "lower(first_name) AS f, created_at FROM customers"
    ).fetchall()
    columns = {"email": ("e",), "name": ("l", "f"), "created": ("created_at",)}[sort]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (*(r[c] for c in columns), r["id"])

    expected = [str(r["id"]) for r in sorted(rows, key=key, reverse=direction == "desc")]
    seen: list[str] = []
    for page_no in range(1, 5):
        page = await view(http, "neon", per_page=2, page=page_no, sort=sort, dir=direction)
        seen += [row["id"] for row in page["rows"]]
    assert seen == expected


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-1"},
        {"page": "0"},
        {"page": "abc"},
        {"page": "1.5"},
        {"page": "99999999999"},
        {"per_page": "0"},
        {"per_page": "1000000000"},
        {"per_page": "201"},
        {"sort": "password"},
        {"sort": "email; DROP TABLE customers"},
        {"dir": "sideways"},
        {"q": "x" * 101},
        {"q": "nul\x00byte"},
    ],
)
async def test_bad_view_parameters_are_a_json_400(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await http.get("/api/admin/views/neon", params=params)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


async def test_an_unknown_view_is_a_json_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/admin/views/customers")
    assert response.status_code == 404 and "unknown view" in response.json()["error"]


async def test_a_page_past_the_end_is_empty(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db)
    page = await view(http, "neon", page=99)
    assert (page["total"], page["rows"]) == (1, [])


async def test_deep_pages_without_an_index_are_refused_with_a_reason(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "MAX_SCAN_OFFSET", 2)
    for n in range(10):
        add_customer(db, email=f"c{n}@example.com")
    deep = await http.get(
        "/api/admin/views/neon", params={"sort": "name", "per_page": 2, "page": 3}
    )
    assert deep.status_code == 400 and "sort by email" in deep.json()["error"]
    assert len((await view(http, "neon", sort="name", per_page=2, page=4))["rows"]) == 2
    assert len((await view(http, "neon", sort="email", per_page=2, page=3))["rows"]) == 2
    searched = await http.get(
        "/api/admin/views/neon", params={"q": "example", "per_page": 2, "page": 3}
    )
    assert searched.status_code == 400 and "narrow the search" in searched.json()["error"]


async def test_history_filters_by_customer_outcome_and_action(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient
) -> None:
    alice = add_customer(db, email="Alice@Example.com")
    add_customer(db, email=REFUSED_EMAIL)
    await sync(app)

    async def history(**params: str) -> list[dict[str, Any]]:
        response = await http.get("/api/admin/history", params=params)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows

    assert len(await history()) == 2
    errors = await history(outcome="error")
    assert [(r["email"], r["message"]) for r in errors] == [
        (REFUSED_EMAIL, "Invalid email address")
    ]
    assert [UUID(r["customer_id"]) for r in await history(customer=str(alice))] == [alice]
    assert [UUID(r["customer_id"]) for r in await history(customer="ALICE@example.com")] == [alice]
    assert len(await history(action="create", source="listener")) == 2
    assert await history(action="remove") == []


@pytest.mark.parametrize(
    "params",
    [
        {"outcome": "boom"},
        {"customer": "not an id"},
        {"action": "DROP TABLE"},
        {"source": "mars"},
        {"page": "0"},
        {"customer": "a\x00@b"},
    ],
)
async def test_bad_history_filters_are_a_json_400(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await http.get("/api/admin/history", params=params)
    assert response.status_code == 400 and response.json()["error"]
