"""The Clients Manager and history pages as HTML (their behaviour in a browser is in e2e/)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
import pytest

from tests.factories import add_customer

pytestmark = pytest.mark.anyio


def tab_counts(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-count="(\w+)">([\d,]+)<', page))


@pytest.mark.parametrize("path", ["/admin/clients", "/admindash/amy/hapio"])
async def test_clients_page_shows_tabs_with_counts_and_rows(
    db: psycopg.Connection[Any], http: httpx.AsyncClient, path: str
) -> None:
    add_customer(db, email="amelie@example.com", first_name="Amélie", last_name="Lefèvre")
    add_customer(db, email="noah@example.com", marketing_opt_in=False)
    response = await http.get(path)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    page = response.text
    assert tab_counts(page) == {"neon": "2", "brevo": "0", "matched": "0", "unmatched": "1"}
    assert "Amélie Lefèvre" in page and "noah@example.com" in page
    # A push button for the opted-in customer only.
    assert page.count('class="push"') == 1


async def test_the_unmatched_tab_has_the_status_card_and_sync_all(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db)
    page = (await http.get("/admin/clients", params={"view": "unmatched"})).text
    assert 'id="sync-card"' in page and 'id="sync-all"' in page and "<dialog" in page
    assert re.search(r'data-summary="pending">1<', page)


async def test_the_pager_and_sort_links_keep_the_search(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    for n in range(3):
        add_customer(db, email=f"ana{n}@example.com")
    page = (await http.get("/admin/clients", params={"q": "ana", "per_page": 1})).text
    assert "Page 1 of 3" in page
    assert (
        'href="/admin/clients?view=neon&amp;page=2&amp;per_page=1&amp;sort=email&amp;'
        'dir=asc&amp;q=ana"' in page
    )


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"page": "-1"}, 400, "page must be between 1 and"),
        ({"per_page": "1000000000"}, 400, "per_page must be between 1 and 250"),
        ({"view": "everything"}, 404, "unknown view"),
        ({"sort": "salary"}, 400, "sort must be one of"),
    ],
)
async def test_a_bad_query_gives_a_safe_page_that_says_why(
    http: httpx.AsyncClient, params: dict[str, str], status: int, message: str
) -> None:
    response = await http.get("/admin/clients", params=params)
    assert response.status_code == status and "text/html" in response.headers["content-type"]
    assert 'role="alert"' in response.text and message in response.text


async def test_history_page_lists_entries_and_keeps_its_filters(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    cid = add_customer(db, email="hist@example.com")
    await http.post(f"/api/admin/customers/{cid}/push")
    page = (await http.get("/admin/history", params={"outcome": "ok"})).text
    assert "hist@example.com" in page and "<option selected>ok</option>" in page
    empty = (await http.get("/admin/history", params={"outcome": "error"})).text
    assert "Nothing recorded for these filters" in empty
    bad = await http.get("/admin/history", params={"outcome": "<b>"})
    assert bad.status_code == 400 and "outcome must be one of" in bad.text


async def test_a_page_past_the_end_shows_the_last_page_and_says_so(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    for n in range(5):
        add_customer(db, email=f"c{n}@example.com")
    page = (await http.get("/admin/clients", params={"page": 99, "per_page": 2})).text
    assert "There is no page 99: showing the last page, 3 of 3." in page
    assert "Page 3 of 3" in page and "Page 99" not in page
    assert "c4@example.com" in page


async def test_every_view_has_the_status_card_the_per_page_choice_and_the_mirrors_age(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db)
    for view in ("neon", "brevo", "matched", "unmatched"):
        page = (await http.get("/admin/clients", params={"view": view, "per_page": 100})).text
        assert 'id="sync-card"' in page, view
        for label in ("Opted in", "In Brevo", "Pending", "Failed"):
            assert f"<dt>{label}</dt>" in page, (view, label)
        assert re.search(r'<select name="per_page" id="per-page">.*<option selected>100</option>',
                         page), view
        assert "Not read from Brevo yet" in page and 'data-stale="true"' in page
    await http.post("/api/admin/brevo/refresh")
    page = (await http.get("/admin/clients", params={"view": "brevo"})).text
    assert "Read from Brevo just now" in page and 'data-stale="false"' in page
