"""The Clients Manager in a real browser: views, push, sync all, errors, refresh, login."""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import UUID

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from brevo_sync.seed import REFUSED_EMAIL
from tests.e2e.conftest import Live, screenshot
from tests.factories import add_customer
from tests.support.admin_app import USER

pytestmark = pytest.mark.browser


def push_now(live: Live, *customer_ids: UUID) -> None:
    """Arrange: push through the API, as the button would."""
    with live.api() as api:
        for cid in customer_ids:
            api.post(f"/api/admin/customers/{cid}/push").raise_for_status()


def row(page: Page, email: str) -> Any:
    return page.locator(
        "#rows tbody tr", has=page.locator(f'[data-cell="email"]:text-is("{email}")')
    )


def tab_count(page: Page, view: str) -> Any:
    return page.locator(f'[data-count="{view}"]')


def test_each_view_shows_its_rows_and_counts(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    alice = add_customer(db, email="alice@example.com", first_name="Alice", last_name="Émond")
    bob = add_customer(db, email="bob@example.com", first_name="Bob", last_name="Núñez")
    add_customer(db, email="zoe@example.com", first_name="Zoë", last_name="Müller")
    add_customer(db, email="carl@example.com", marketing_opt_in=False)
    push_now(live, alice, bob)
    with live.brevo() as brevo:
        brevo.post(
            "/v3/contacts",
            json={"email": "lead@brevo-only.example", "attributes": {"FIRSTNAME": "Lea"}},
        ).raise_for_status()
    with live.api() as api:
        api.post("/api/admin/brevo/refresh").raise_for_status()

    page.goto("/admin/clients")
    expected = {"neon": "4", "brevo": "3", "matched": "2", "unmatched": "1"}
    for view, count in expected.items():
        expect(tab_count(page, view)).to_have_text(count)
    expect(page.locator("#rows tbody tr")).to_have_count(4)
    expect(row(page, "zoe@example.com").locator('[data-cell="name"]')).to_have_text("Zoë Müller")
    screenshot(page, "neon")

    page.get_by_role("link", name=re.compile(r"^Brevo \d")).click()
    expect(page.locator("#rows tbody tr")).to_have_count(3)
    only = page.locator("#rows tbody tr.brevo-only")
    expect(only).to_have_count(1)
    expect(only.locator('[data-cell="email"]')).to_have_text("lead@brevo-only.example")
    screenshot(page, "brevo")

    page.get_by_role("link", name=re.compile(r"^Matched")).click()
    expect(page.locator('#rows [data-cell="email"]')).to_have_text(
        ["alice@example.com", "bob@example.com"]
    )
    expect(page.locator('#rows [data-cell="status"]')).to_have_text(["in sync", "in sync"])
    screenshot(page, "matched")

    page.get_by_role("link", name=re.compile(r"^Unmatched")).click()
    expect(page.locator('#rows [data-cell="email"]')).to_have_text(["zoe@example.com"])
    card = page.locator("#sync-card")
    expect(card.locator('[data-summary="total"]')).to_have_text("3")
    expect(card.locator('[data-summary="synced"]')).to_have_text("2")
    expect(card.locator('[data-summary="pending"]')).to_have_text("1")
    screenshot(page, "unmatched")


def test_search_and_sort_narrow_and_order_the_rows(db: psycopg.Connection[Any], page: Page) -> None:
    for first, last in (("Zoë", "Müller"), ("Ana", "Silva"), ("José", "García")):
        add_customer(db, email=f"{last.lower()}@example.com", first_name=first, last_name=last)
    page.goto("/admin/clients")
    page.get_by_role("searchbox").fill("müll")
    page.get_by_role("button", name="Search").click()
    expect(page.locator('#rows [data-cell="name"]')).to_have_text(["Zoë Müller"])
    expect(page.locator("#view-total")).to_contain_text("1 row matching “müll”")
    page.get_by_role("link", name="Clear").click()
    page.get_by_role("link", name="Name", exact=True).click()
    expect(page.locator('#rows [data-cell="name"]')).to_have_text(
        ["José García", "Zoë Müller", "Ana Silva"]
    )
    page.get_by_role("link", name=re.compile(r"^Name")).click()
    expect(page.locator('#rows [data-cell="name"]')).to_have_text(
        ["Ana Silva", "Zoë Müller", "José García"]
    )


def test_push_turns_the_cross_into_a_check(db: psycopg.Connection[Any], page: Page) -> None:
    add_customer(db, email="new@example.com", first_name="Nina")
    page.goto("/admin/clients")
    target = row(page, "new@example.com")
    expect(target.locator('[data-cell="in_brevo"] .mark')).to_have_text("✗")
    button = target.get_by_role("button", name="Push to Brevo")
    expect(button).to_be_enabled()
    button.click()
    expect(target.locator('[data-cell="in_brevo"] .mark')).to_have_text("✓")
    expect(target.locator('[data-cell="status"]')).to_have_text("in sync")
    expect(target.locator('[data-cell="last_synced"]')).to_have_text(re.compile(r"UTC$"))
    expect(button).to_be_disabled()
    screenshot(page, "pushed")


def test_an_error_row_shows_brevos_message(db: psycopg.Connection[Any], page: Page) -> None:
    add_customer(db, email=REFUSED_EMAIL)
    page.goto("/admin/clients?view=unmatched")
    target = row(page, REFUSED_EMAIL)
    target.get_by_role("button", name="Push to Brevo").click()
    expect(target.locator('[data-cell="status"] .badge')).to_have_text("error")
    expect(target.locator('[data-cell="status"] .error-message')).to_have_text(
        "Invalid email address"
    )
    expect(target.get_by_role("button", name="Push to Brevo")).to_be_enabled()
    page.reload()
    expect(row(page, REFUSED_EMAIL).locator(".error-message")).to_have_text(
        "Invalid email address"
    )
    screenshot(page, "error-row")


@pytest.mark.parametrize("contacts_per_second", [6.0])  # Brevo's pace, so there is time to watch
def test_sync_all_shows_progress_then_its_result(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    for n in range(15):
        add_customer(db, email=f"member{n:02d}@example.com")
    add_customer(db, email=REFUSED_EMAIL)
    page.goto("/admin/clients?view=unmatched")
    expect(page.locator('[data-summary="pending"]')).to_have_text("16")

    page.get_by_role("button", name="Sync All to Brevo").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#sync-progress")).to_be_hidden()

    page.get_by_role("button", name="Sync All to Brevo").click()
    page.get_by_role("dialog").get_by_role("button", name="Sync all").click()
    progress, result = page.locator("#sync-progress"), page.locator("#sync-result")
    seen_running: list[str] = []
    deadline = time.monotonic() + 60
    while not result.is_visible():
        assert time.monotonic() < deadline, "Sync All did not finish"
        text = progress.text_content() or ""
        if text.startswith("Sync running") and text not in seen_running:
            seen_running.append(text)
        page.wait_for_timeout(50)
    # The counts moved while it ran: more than one set of figures was shown.
    figures = {tuple(re.findall(r"\d+", text)) for text in seen_running} - {()}
    assert len(figures) >= 2, seen_running
    expect(result).to_contain_text(
        "Created 15, updated 0, failed 1; 15 of 16 opted-in customers in Brevo.")
    expect(result.locator(".failures li")).to_have_text(
        [f"{REFUSED_EMAIL} — Invalid email address"]
    )
    expect(progress).to_have_text("Sync finished.")
    expect(page.locator('[data-summary="synced"]')).to_have_text("15")
    expect(page.locator('[data-summary="failed"]')).to_have_text("1")
    expect(page.locator('[data-summary="pending"]')).to_have_text("0")
    screenshot(page, "sync-all-result")
    result.get_by_role("link", name="Show the updated list").click()
    expect(page.locator('#rows [data-cell="email"]')).to_have_text([REFUSED_EMAIL])


def test_refresh_from_brevo_brings_in_new_contacts(live: Live, page: Page) -> None:
    page.goto("/admin/clients?view=brevo")
    expect(tab_count(page, "brevo")).to_have_text("0")
    with live.brevo() as brevo:
        brevo.post("/v3/contacts", json={"email": "fresh@example.com"}).raise_for_status()
    page.get_by_role("button", name="Refresh from Brevo").click()
    expect(page.locator("#refresh-status")).to_contain_text("Refreshed from Brevo: 1 listed")
    expect(tab_count(page, "brevo")).to_have_text("1")
    expect(page.locator('#rows [data-cell="email"]')).to_have_text(["fresh@example.com"])


def test_history_page_shows_what_the_sync_did(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    push_now(
        live,
        add_customer(db, email="ok@example.com"),
        add_customer(db, email=REFUSED_EMAIL),
    )
    page.goto("/admin/history")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    page.get_by_label("Outcome").select_option("error")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#history tbody tr")).to_have_count(1)
    expect(page.locator("#history .message")).to_have_text(["Invalid email address"])
    screenshot(page, "history")


def test_without_credentials_the_page_is_refused(browser: Browser, live: Live) -> None:
    anonymous = browser.new_context()
    try:
        # Met with the Basic challenge and no login to offer, the browser gives up.
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            anonymous.new_page().goto(f"{live.url}/admin/clients")
        response = anonymous.request.get(f"{live.url}/admin/clients")
        assert response.status == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.json() == {"error": "authentication required"}
    finally:
        anonymous.close()
    wrong = browser.new_context(http_credentials={"username": USER, "password": "wrong"})
    try:
        shown = wrong.new_page().goto(f"{live.url}/admin/clients")
        assert shown is not None and shown.status == 401
    finally:
        wrong.close()
