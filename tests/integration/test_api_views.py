"""The four views and the history as JSON, on a real PostgreSQL and the Brevo emulator."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
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
from tests.conftest import TEST_LIST_ID
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
        {"per_page": "251"},
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


async def test_a_page_past_the_end_is_clamped_to_the_last_one(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    for n in range(5):
        add_customer(db, email=f"c{n}@example.com")
    page = await view(http, "neon", page=99, per_page=2)
    assert (page["page"], page["pages"], page["clamped_from"]) == (3, 3, 99)
    assert emails(page) == ["c4@example.com"]
    # Unmatched and searches count and page in one statement: clamped all the same.
    unmatched = await view(http, "unmatched", page=99, per_page=2)
    assert (unmatched["page"], unmatched["clamped_from"], emails(unmatched)) == (
        3, 99, ["c4@example.com"])
    searched = await view(http, "neon", q="c1", page=7)
    assert (searched["page"], searched["clamped_from"], emails(searched)) == (
        1, 7, ["c1@example.com"])
    assert (await view(http, "neon", page=2, per_page=2))["clamped_from"] is None
    empty = await view(http, "brevo", page=4)
    assert (empty["page"], empty["clamped_from"], empty["rows"]) == (1, 4, [])


async def test_a_page_too_deep_to_read_is_still_clamped_when_past_the_end(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "MAX_SCAN_OFFSET", 2)
    for n in range(3):
        add_customer(db, email=f"c{n}@example.com")
    page = await view(http, "unmatched", page=50, per_page=1)
    assert (page["page"], page["clamped_from"], emails(page)) == (3, 50, ["c2@example.com"])


async def test_per_page_takes_up_to_250(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db)
    assert (await view(http, "neon", per_page=250))["per_page"] == 250
    refused = await http.get("/api/admin/views/neon", params={"per_page": "251"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "per_page must be between 1 and 250"}


async def test_every_column_with_an_order_sorts(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient
) -> None:
    synced = add_customer(db, email="b-synced@example.com")
    add_customer(db, email=REFUSED_EMAIL)
    await sync(app)
    add_customer(db, email="c-pending@example.com")  # queued, not pushed yet
    add_customer(db, email="a-out@example.com", marketing_opt_in=False)
    db.execute("DELETE FROM brevo_sync.queue WHERE customer_id NOT IN "
               "(SELECT id FROM customers WHERE email = 'c-pending@example.com')")

    async def order(sort: str, direction: str = "asc") -> list[str]:
        return emails(await view(http, "neon", sort=sort, dir=direction))

    # Most urgent first: error, pending, in sync, opted out.
    assert await order("status") == [REFUSED_EMAIL, "c-pending@example.com",
                                      "b-synced@example.com", "a-out@example.com"]
    assert await order("status", "desc") == list(reversed(await order("status")))
    assert (await order("in_brevo", "desc"))[0] == "b-synced@example.com"
    assert (await order("opt_in"))[0] == "a-out@example.com"
    assert (await order("last_synced"))[0] == "b-synced@example.com"  # the one push that took
    matched = await view(http, "matched", sort="status")
    assert [UUID(r["id"]) for r in matched["rows"]] == [synced]
    unmatched = await view(http, "unmatched", sort="last_synced", dir="desc")
    assert set(emails(unmatched)) == {REFUSED_EMAIL, "c-pending@example.com"}


async def test_summary_gives_counts_status_card_and_the_mirrors_age(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient
) -> None:
    before = (await http.get("/api/admin/summary")).json()
    assert before["mirror"]["read_at"] is None and before["mirror"]["stale"]
    add_customer(db, email="one@example.com")
    add_customer(db, email=REFUSED_EMAIL)
    add_customer(db, email="later@example.com")
    add_customer(db, email="out@example.com", marketing_opt_in=False)
    db.execute("DELETE FROM brevo_sync.queue WHERE customer_id IN "
               "(SELECT id FROM customers WHERE email = 'later@example.com')")
    await sync(app)
    assert (await http.post("/api/admin/brevo/refresh")).status_code == 200
    summary = (await http.get("/api/admin/summary")).json()
    assert summary["counts"] == {"neon": 4, "brevo": 1, "matched": 1, "unmatched": 2}
    status = summary["status"]
    assert (status["total"], status["synced"], status["pending"], status["failed"]) == (3, 1, 1, 1)
    assert status["running"] is None and status["paused"] is None
    mirror = summary["mirror"]
    assert mirror["read_at"] is not None and not mirror["stale"]
    assert 0 <= mirror["age_seconds"] < mirror["stale_after_seconds"]


async def test_the_brevo_view_names_lists(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient, emulator: Any
) -> None:
    add_customer(db, email="member@example.com")
    await sync(app)
    assert (await http.post("/api/admin/brevo/refresh")).status_code == 200
    rows = (await view(http, "brevo"))["rows"]
    assert rows[0]["list_ids"] == [TEST_LIST_ID]
    assert rows[0]["lists"] == [{"id": TEST_LIST_ID, "name": "brevo-sync"}]


async def test_a_contact_deleted_in_brevo_leaves_the_mirror(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient, brevo: BrevoClient
) -> None:
    for name in ("keep", "gone", "swapped"):
        add_customer(db, email=f"{name}@example.com")
    await sync(app)
    assert (await http.post("/api/admin/brevo/refresh", json={"full": True})).status_code == 200
    gone = await brevo.get_contact_by_email("gone@example.com")
    assert gone is not None and await brevo.delete_contact(gone.id)
    # The page's own incremental refresh: Brevo's count tells it a contact went.
    refreshed = (await http.post("/api/admin/brevo/refresh")).json()
    assert refreshed["full"] and refreshed["pruned"] == 1
    assert "gone@example.com" not in emails(await view(http, "brevo"))
    # A deletion hidden by a creation keeps the count: the button's full listing finds it.
    swapped = await brevo.get_contact_by_email("swapped@example.com")
    assert swapped is not None and await brevo.delete_contact(swapped.id)
    await brevo.create_contact("new@example.com", {})
    assert (await http.post("/api/admin/brevo/refresh", json={"full": True})).json()["pruned"] == 1
    assert sorted(emails(await view(http, "brevo"))) == ["keep@example.com", "new@example.com"]


async def test_a_synced_customer_whose_contact_drifted_can_be_pushed(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient, brevo: BrevoClient
) -> None:
    add_customer(db, email="ada@example.com", first_name="Ada")
    await sync(app)
    contact = await brevo.get_contact_by_email("ada@example.com")
    assert contact is not None
    await brevo.update_contact(contact.id, attributes={"FIRSTNAME": "Adelaide"})
    assert (await http.post("/api/admin/brevo/refresh")).status_code == 200
    row = (await view(http, "matched"))["rows"][0]
    assert (row["status"], row["differs"], row["can_push"]) == ("differs", ["first_name"], True)
    pushed = (await http.post(f"/api/admin/customers/{row['id']}/push")).json()["row"]
    assert (pushed["status"], pushed["differs"], pushed["can_push"]) == ("in_sync", [], False)


async def test_a_phone_brevo_holds_on_another_contact_is_withheld_not_drift(
    db: psycopg.Connection[Any], app: Starlette, http: httpx.AsyncClient
) -> None:
    add_customer(db, email="first@example.com", phone="+33 6 12 34 56 78")
    await sync(app)
    add_customer(db, email="second@example.com", phone="+33 6 12 34 56 78")
    await sync(app)
    assert (await http.post("/api/admin/brevo/refresh")).status_code == 200
    rows = {r["email"]: r for r in (await view(http, "matched"))["rows"]}
    second = rows["second@example.com"]
    assert second["differs"] == [] and second["status"] == "in_sync"
    assert second["withheld"] == [{"field": "phone", "reason": views.SMS_WITHHELD}]
    assert rows["first@example.com"]["withheld"] == []


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


# What each status ranks as in the status sort: most urgent first ("differs" is an "in sync"
# whose contact has drifted since, ranked with it).
STATUS_RANK = {"error": 0, "retrying": 1, "pending": 2, "missing": 3, "not_synced": 4,
               "in_sync": 5, "differs": 5, "removed": 6, "opted_out": 7}


def sort_key(sort: str, row: dict[str, Any], states: dict[str, str]) -> Any:
    """A row's sort key as the page shows it; None sorts last going up, first going down.
    A push Brevo no longer holds the contact of has no time (the page shows none either,
    unless the customer is queued again: the order still counts it as none)."""
    if sort == "status":
        return STATUS_RANK[row["status"]]
    if sort == "last_synced":
        gone = states.get(row["id"]) == "synced" and row["marketing_opt_in"] \
            and not row["in_brevo"]
        shown = row["last_synced_at"]
        return None if gone or shown is None else datetime.fromisoformat(shown)
    return row[{"in_brevo": "in_brevo", "opt_in": "marketing_opt_in"}[sort]]


def add_state_mix(db: psycopg.Connection[Any]) -> None:
    """Three customers of every status, some in the mirror, with equal and missing push
    times, so that each order has ties (broken by id) and nulls."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    db.execute("DELETE FROM brevo_sync.queue")
    contact = itertools.count(1)

    def one(status: str | None, *, opt_in: bool = True, mirrored: bool = False,
            queued: str | None = None, pushed: datetime | None = None) -> None:
        cid = add_customer(db, marketing_opt_in=opt_in)
        db.execute("DELETE FROM brevo_sync.queue WHERE customer_id = %s", (cid,))
        email = db.execute("SELECT lower(email) AS e FROM customers WHERE id = %s",
                           (cid,)).fetchone()["e"]  # type: ignore[index]
        if status is not None:
            db.execute("INSERT INTO brevo_sync.sync_state (customer_id, email, status,"
                       " last_synced_at) VALUES (%s, %s, %s, %s)", (cid, email, status, pushed))
        if mirrored:
            db.execute("INSERT INTO brevo_sync.contacts (id, email, first_name, last_name)"
                       " VALUES (%s, %s, 'Other', 'Name')", (next(contact), email))
        if queued is not None:
            db.execute("INSERT INTO brevo_sync.queue (customer_id, last_error) VALUES (%s, %s)",
                       (cid, queued or None))

    for n in range(3):
        later = at + timedelta(minutes=n % 2)  # two of each three pushed at the same time
        one("error", mirrored=n == 0, pushed=later if n else None)
        one("synced", queued="Brevo said 502", mirrored=n != 1, pushed=at)
        one(None if n else "synced", queued="", opt_in=n != 2, pushed=at)
        one("synced", pushed=later)  # missing in Brevo
        one(None if n else "skipped", mirrored=n == 2)  # not synced
        one("synced", mirrored=True, opt_in=n != 0, pushed=later)
        one("removed", opt_in=n == 0, mirrored=n == 1, pushed=None if n else later)
        one(None if n else "pending", opt_in=False, mirrored=n == 1)


@pytest.mark.parametrize("name", ["neon", "matched", "unmatched"])
@pytest.mark.parametrize("budget", [views.WALK_BUDGET, 9, 1])
async def test_state_sorts_order_rows_by_what_the_page_shows_then_id(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
    name: str, budget: int,
) -> None:
    """Pinned before these orders were given their own index paths: every page of every
    order, read either way, is the rows sorted by the shown value, then by id, whether the
    page walks its groups along indexes, runs out of budget midway, or is sorted whole."""
    monkeypatch.setattr(views, "WALK_BUDGET", budget)
    add_state_mix(db)
    rows = (await view(http, name, per_page=250))["rows"]
    states = {str(r["customer_id"]): r["status"] for r in db.execute(
        "SELECT customer_id, status FROM brevo_sync.sync_state")}
    assert len({r["status"] for r in rows}) >= {"neon": 8, "matched": 6, "unmatched": 5}[name]
    for sort in ("status", "in_brevo", "opt_in", "last_synced"):
        keys = {r["id"]: sort_key(sort, r, states) for r in rows}
        ascending = sorted(rows, key=lambda r: (
            keys[r["id"]] is None, keys[r["id"]] or 0, UUID(r["id"])))
        for direction in ("asc", "desc"):
            expected = [r["id"] for r in ascending]
            if direction == "desc":
                expected.reverse()
            seen: list[str] = []
            for page_no in range(1, -(-len(rows) // 4) + 1):
                page = await view(http, name, per_page=4, page=page_no, sort=sort,
                                  dir=direction)
                seen += [row["id"] for row in page["rows"]]
            assert seen == expected, (sort, direction)
