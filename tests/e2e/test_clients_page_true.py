"""The Clients Manager stays true and fits every screen: counts after a push, the Brevo view's
own refresh, a phone's width, keyboard focus, and axe-core on every page."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Page, expect

from brevo_sync.seed import REFUSED_EMAIL
from tests.e2e.conftest import DESKTOP, PHONE, Live, assert_accessible, screenshot
from tests.factories import add_customer

pytestmark = pytest.mark.browser

VIEWS = ("neon", "brevo", "matched", "unmatched")


def row(page: Page, email: str) -> Any:
    return page.locator(
        "#rows tbody tr", has=page.locator(f'[data-cell="email"]:text-is("{email}")')
    )


def count(page: Page, view: str) -> Any:
    return page.locator(f'[data-count="{view}"]')


def card(page: Page, key: str) -> Any:
    return page.locator(f'#sync-card [data-summary="{key}"]')


def mark_document(page: Page) -> None:
    """A flag that only this very document holds: a reload or navigation drops it."""
    page.evaluate("() => { window.sameDocument = true; }")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"


def refresh_mirror(live: Live) -> None:
    with live.api() as api:
        api.post("/api/admin/brevo/refresh", json={"full": True}).raise_for_status()


def push_all(live: Live, db: psycopg.Connection[Any]) -> None:
    ids = [r["id"] for r in db.execute("SELECT id FROM customers WHERE marketing_opt_in")]
    with live.api() as api:
        for cid in ids:
            api.post(f"/api/admin/customers/{cid}/push").raise_for_status()


def test_push_moves_the_counts_and_the_card_without_a_reload(
    db: psycopg.Connection[Any], page: Page
) -> None:
    add_customer(db, email="ana@example.com")
    add_customer(db, email="ben@example.com")
    page.goto("/admin/clients?view=unmatched")
    expect(count(page, "unmatched")).to_have_text("2")
    expect(count(page, "matched")).to_have_text("0")
    expect(card(page, "pending")).to_have_text("2")
    expect(card(page, "synced")).to_have_text("0")
    mark_document(page)

    row(page, "ana@example.com").get_by_role("button", name="Push to Brevo").click()
    expect(count(page, "unmatched")).to_have_text("1")
    expect(count(page, "matched")).to_have_text("1")
    expect(count(page, "brevo")).to_have_text("1")
    expect(card(page, "synced")).to_have_text("1")
    expect(card(page, "pending")).to_have_text("1")
    # Ana is in Brevo now: the Unmatched rows no longer list her.
    expect(page.locator('#rows [data-cell="email"]')).to_have_text(["ben@example.com"])
    assert_same_document(page)


def test_a_change_event_reads_the_page_again(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    """The contract other parts of the page (Sync All) rely on: dispatch brevo-sync:changed
    after a change, and the counts, the card and the rows follow."""
    page.goto("/admin/clients")
    expect(count(page, "neon")).to_have_text("0")
    mark_document(page)
    add_customer(db, email="behind@example.com")
    push_all(live, db)
    page.evaluate("() => document.dispatchEvent(new CustomEvent('brevo-sync:changed'))")
    expect(count(page, "neon")).to_have_text("1")
    expect(card(page, "synced")).to_have_text("1")
    expect(row(page, "behind@example.com").locator('[data-cell="status"]')).to_have_text("in sync")
    assert_same_document(page)


def test_the_brevo_view_reads_brevo_when_stale_and_drops_deleted_contacts(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    with live.brevo() as brevo:
        for email in ("kept@example.com", "doomed@example.com"):
            brevo.post("/v3/contacts", json={"email": email, "listIds": [2]}).raise_for_status()
    page.goto("/admin/clients?view=brevo")
    # Never read before: the page reads Brevo by itself, then shows what it found.
    expect(page.locator('#rows [data-cell="email"]')).to_have_text(
        ["doomed@example.com", "kept@example.com"])
    expect(page.locator("#mirror-age")).to_have_text("Read from Brevo just now")
    expect(row(page, "kept@example.com").locator('[data-cell="lists"]')).to_have_text("brevo-sync")
    expect(count(page, "brevo")).to_have_text("2")

    with live.brevo() as brevo:
        doomed = brevo.get("/v3/contacts/doomed@example.com").json()
        brevo.delete(f"/v3/contacts/{doomed['id']}").raise_for_status()
    db.execute("UPDATE brevo_sync.mirror_state SET watermark = now() - interval '10 minutes'")
    page.reload()
    expect(page.locator('#rows [data-cell="email"]')).to_have_text(["kept@example.com"])
    expect(count(page, "brevo")).to_have_text("1")
    expect(page.locator("#mirror-age")).to_have_text("Read from Brevo just now")


def test_a_row_that_differs_says_so_and_can_be_pushed(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    add_customer(db, email="ada@example.com", first_name="Ada")
    push_all(live, db)
    with live.brevo() as brevo:
        contact = brevo.get("/v3/contacts/ada@example.com").json()
        brevo.put(f"/v3/contacts/{contact['id']}",
                  json={"attributes": {"FIRSTNAME": "Adelaide"}}).raise_for_status()
    refresh_mirror(live)
    page.goto("/admin/clients?view=matched")
    target = row(page, "ada@example.com")
    expect(target.locator('[data-cell="status"]')).to_have_text("differs from Brevo")
    expect(target.locator('[data-cell="differs"]')).to_have_text("first name")
    target.get_by_role("button", name="Push to Brevo").click()
    expect(target.locator('[data-cell="status"]')).to_have_text("in sync")
    expect(target.locator('[data-cell="differs"]')).to_have_text("same")
    expect(target.get_by_role("button", name="Push to Brevo")).to_be_disabled()


def test_per_page_sort_and_a_page_past_the_end(db: psycopg.Connection[Any], page: Page) -> None:
    for n in range(30):
        add_customer(db, email=f"c{n:02d}@example.com", marketing_opt_in=n % 3 != 0)
    page.goto("/admin/clients?page=99")
    expect(page.locator("#clamped")).to_have_text(
        "There is no page 99: showing the last page, 1 of 1.")
    expect(page.locator(".pager .where")).to_have_text("Page 1 of 1")
    page.get_by_label("Per page").select_option("25")
    page.get_by_label("Sort by").select_option("opt_in")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#rows tbody tr")).to_have_count(25)
    expect(page.locator(".pager .where")).to_have_text("Page 1 of 2")
    expect(page.locator('#rows [data-cell="opt_in"] .mark').first).to_have_attribute(
        "aria-label", "opted out")
    page.get_by_role("link", name="Status").click()
    expect(page).to_have_url(re.compile(r"sort=status"))
    expect(page.locator('#rows [data-cell="status"] .badge').first).to_have_text("pending")


def test_at_a_phones_width_status_and_push_are_on_screen(
    db: psycopg.Connection[Any], page: Page
) -> None:
    add_customer(db, email="a.rather.long.address@example.com", first_name="Maximiliane",
                 last_name="Oberschwarzenberger")
    page.set_viewport_size(PHONE)
    page.goto("/admin/clients")
    target = row(page, "a.rather.long.address@example.com")
    status = target.locator('[data-cell="status"] .badge')
    button = target.get_by_role("button", name="Push to Brevo")
    for element in (status, button):
        expect(element).to_be_in_viewport()
        box = element.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    button.click()
    expect(target.locator('[data-cell="status"] .badge')).to_have_text("in sync")


def test_keyboard_focus_is_visible(db: psycopg.Connection[Any], page: Page) -> None:
    page.goto("/admin/clients")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }")
    assert focused[0] == "A" and focused[1] != "none" and focused[2] != "0px", focused


def arrange_every_kind_of_row(db: psycopg.Connection[Any], live: Live) -> None:
    add_customer(db, email="alice@example.com", first_name="Alice", last_name="Émond",
                 phone="+33 6 12 34 56 78")
    add_customer(db, email="bob@example.com", first_name="Bob", last_name="Núñez")
    add_customer(db, email="twin@example.com", first_name="Twin", phone="+33 6 12 34 56 78")
    add_customer(db, email=REFUSED_EMAIL, first_name="Refused")
    push_all(live, db)
    add_customer(db, email="zoe@example.com", first_name="Zoë", last_name="Müller")
    add_customer(db, email="carl@example.com", first_name="Carl", marketing_opt_in=False)
    with live.brevo() as brevo:
        brevo.post("/v3/contacts", json={"email": "lead@brevo-only.example",
                                         "attributes": {"FIRSTNAME": "Lea"}}).raise_for_status()
        bob = brevo.get("/v3/contacts/bob@example.com").json()
        brevo.put(f"/v3/contacts/{bob['id']}",
                  json={"attributes": {"LASTNAME": "Nunez"}}).raise_for_status()
    refresh_mirror(live)


def test_every_page_passes_axe_at_desktop_and_phone_widths(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    arrange_every_kind_of_row(db, live)
    pages = {f"clients-{view}": f"/admin/clients?view={view}" for view in VIEWS}
    pages["history"] = "/admin/history"
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        for name, path in pages.items():
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
            assert_accessible(page)
            screenshot(page, f"{name}-{size_name}")
    page.goto("/admin/clients?view=matched")
    expect(row(page, "twin@example.com").locator('[data-cell="differs"]')).to_contain_text(
        "phone withheld")
    expect(row(page, "bob@example.com").locator('[data-cell="status"]')).to_have_text(
        "differs from Brevo")


def test_a_brevo_view_left_open_reads_brevo_again_once_stale(live: Live, page: Page) -> None:
    refresh_mirror(live)
    page.clock.install()
    page.goto("/admin/clients?view=brevo")
    expect(page.locator("#mirror-age")).to_have_text("Read from Brevo just now")
    with live.brevo() as brevo:
        brevo.post("/v3/contacts", json={"email": "late@example.com"}).raise_for_status()
    page.clock.fast_forward("02:00")
    expect(page.locator("#mirror-age")).to_have_text("Read from Brevo 2 min ago")
    expect(page.locator("#rows tbody tr .empty")).to_have_count(1)  # not read again yet
    page.clock.fast_forward("02:00")
    expect(page.locator('#rows [data-cell="email"]')).to_have_text(["late@example.com"])
    expect(page.locator("#refresh-status")).to_contain_text("Refreshed from Brevo: 1 listed")
    expect(page.locator("#mirror-age")).to_have_text("Read from Brevo just now")
