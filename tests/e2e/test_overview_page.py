"""The overview page in a real browser: a real listener process shown running, then stopped."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, Live, assert_accessible, screenshot
from tests.factories import add_customer
from tests.reliability.harness import Listener, wait_for

pytestmark = pytest.mark.browser

def listener_item(page: Page, pid: int) -> Locator:
    return page.locator("#listeners li.listener", has_text=f"pid {pid},")


def count(live: Live, query: str, *params: object) -> int:
    with psycopg.connect(live.settings.require_database(), autocommit=True) as db:
        row = db.execute(query, params).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


def test_the_overview_shows_a_running_listener_then_a_stopped_one(
        page: Page, live: Live, tmp_path: Path) -> None:
    with psycopg.connect(live.settings.require_database(), autocommit=True) as db:
        add_customer(db, email="first.push@example.com")
    listener = Listener(live.settings.require_database(), f"{live.brevo_url}/v3", tmp_path)
    try:
        listener.wait_healthy(30)
        wait_for("the listener's first heartbeat", lambda: count(
            live, "SELECT count(*) FROM brevo_sync.listeners WHERE pid = %s", listener.pid), 10)
        wait_for("its first push", lambda: count(
            live, "SELECT count(*) FROM brevo_sync.history WHERE outcome = 'ok'"), 20)
        page.set_viewport_size(DESKTOP)
        page.goto("/admin")
        item = listener_item(page, listener.pid)
        expect(item).to_have_attribute("data-state", "running")
        expect(item.locator(".summary")).to_have_text(re.compile(r"^running, last seen \d+ s ago$"))
        expect(page.locator("#account .badge")).to_have_text("accepted")
        expect(page.locator("svg#activity-chart")).to_be_visible()
        expect(page.locator("svg#activity-chart rect.bar.pushes")).to_have_count(1)
        expect(page.locator('#activity [data-figure="pushes"]')).to_have_text("1")
        expect(page.get_by_role("img", name="Pushes and failures per hour, last 48 hours (UTC)")
               ).to_be_visible()
        screenshot(page, "overview-running-1280")
        assert_accessible(page)
        page.set_viewport_size(PHONE)
        page.reload()
        expect(item).to_have_attribute("data-state", "running")
        screenshot(page, "overview-running-420")
        assert_accessible(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        listener.terminate()
        listener.proc.wait(20)
    assert listener.events("listener_stopped"), listener.log_text()[-2000:]
    page.set_viewport_size(DESKTOP)
    page.reload()
    expect(item).to_have_attribute("data-state", "stopped")
    expect(item.locator(".badge")).to_have_text("not running")
    expect(item.locator(".summary")).to_contain_text("not running since ")
    expect(item.locator(".summary")).to_contain_text("(stopped)")
    expect(page.get_by_role("status")).to_contain_text("No listener is running")
    screenshot(page, "overview-stopped-1280")
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    page.reload()
    expect(item).to_have_attribute("data-state", "stopped")
    screenshot(page, "overview-stopped-420")
    assert_accessible(page)


def test_the_overview_is_the_landing_page_and_leads_with_a_pause(
        page: Page, live: Live) -> None:
    with psycopg.connect(live.settings.require_database(), autocommit=True) as db:
        db.execute("INSERT INTO brevo_sync.account_pause (status, code, reason, source)"
                   " VALUES (401, 'unauthorized', 'Key not found', 'listener')")
    page.set_viewport_size(DESKTOP)
    page.goto("/")
    expect(page).to_have_url(f"{live.url}/admin")
    expect(page.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    expect(page.locator("#account .badge")).to_have_text("paused")
    expect(page.locator("#account")).to_contain_text("Key not found")
    expect(page.locator("#listeners")).to_contain_text("No listener has recorded a heartbeat")
    screenshot(page, "overview-paused-1280")
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    page.reload()
    screenshot(page, "overview-paused-420")
    assert_accessible(page)
