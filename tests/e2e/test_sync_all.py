"""Sync All in a real browser: on every view, its confirmation shows the plan of a dry run
(counts and first rows), Confirm runs it and says what changed, Cancel changes nothing."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Page, expect

from brevo_sync.reconcile import SWEEP_LOCK_KEY
from tests.e2e.conftest import Live, assert_accessible, screenshot
from tests.factories import add_customer, add_customers

pytestmark = pytest.mark.browser


def arrange(db: psycopg.Connection[Any], live: Live) -> list[Any]:
    """Two customers in Brevo, one of whom changed; three new ones; nothing queued."""
    synced = add_customers(db, 2)
    with live.api() as api:
        api.post("/api/admin/customers/sync-all", json={}).raise_for_status()
    db.execute("UPDATE customers SET last_name = 'Hopper' WHERE id = %s", (synced[0],))
    new = [add_customer(db, email=f"new{n}@example.com", first_name="Nina", last_name=f"N{n}")
           for n in range(3)]
    db.execute("DELETE FROM brevo_sync.queue")
    return new


def plan_count(page: Page, change: str) -> Any:
    return page.locator(f'#sync-plan [data-plan-count="{change}"]')


def snapshot(db: psycopg.Connection[Any]) -> list[Any]:
    return [db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("public.customers", "brevo_sync.sync_state", "brevo_sync.queue",
                          "brevo_sync.history")]


@pytest.mark.parametrize("view", ["neon", "brevo", "matched", "unmatched"])
def test_sync_all_is_on_every_view(db: psycopg.Connection[Any], page: Page, view: str) -> None:
    add_customer(db)
    page.goto(f"/admin/clients?view={view}")
    expect(page.get_by_role("button", name="Sync All to Brevo")).to_be_visible()


def test_the_dialog_shows_the_plan_and_confirm_runs_it(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    arrange(db, live)
    page.add_init_script(
        "window.changed = 0;"
        " document.addEventListener('brevo-sync:changed', () => { window.changed += 1; })")
    page.goto("/admin/clients")

    page.get_by_role("button", name="Sync All to Brevo").click()
    dialog = page.get_by_role("dialog", name="Sync all to Brevo?")
    expect(dialog).to_be_visible()
    expect(plan_count(page, "creates")).to_have_text("3")
    expect(plan_count(page, "updates")).to_have_text("1")
    for change in ("renames", "removals", "blocklists"):
        expect(plan_count(page, change)).to_have_text("0")
    expect(dialog.locator("#sync-plan-message")).to_have_text(
        "Sync All would create 3, update 1, rename 0, remove 0, blocklist 0")
    creates = dialog.locator('[data-change="creates"] tbody tr')
    expect(creates).to_have_count(3)
    expect(creates.first).to_contain_text("Nina N")
    expect(creates.first).to_contain_text("create the contact; add to list 2")
    expect(dialog.locator('[data-change="updates"] tbody tr')).to_contain_text("→ Hopper")
    screenshot(page, "sync-all-plan")
    assert_accessible(page)  # the open dialog too

    dialog.get_by_role("button", name="Confirm").click()
    result = page.locator("#sync-result")
    expect(result).to_be_visible(timeout=30_000)
    expect(result.locator(".result").first).to_have_text(
        "Created 3, updated 1, failed 0; 5 of 5 opted-in customers in Brevo.")
    expect(page.locator('[data-summary="pending"]')).to_have_text("0")
    expect(dialog).to_be_hidden()
    page.wait_for_function("() => window.changed === 1")  # the rest of the page was told
    screenshot(page, "sync-all-done")
    assert_accessible(page)

    # Nothing is left to do: a new plan says so.
    page.get_by_role("button", name="Sync All to Brevo").click()
    expect(dialog.locator("#sync-plan-message")).to_have_text(
        "Nothing to change: Brevo matches the 5 opted-in customers")
    dialog.get_by_role("button", name="Cancel").click()


def test_cancel_changes_nothing(db: psycopg.Connection[Any], live: Live, page: Page) -> None:
    arrange(db, live)
    # Counts the dialog's close events, seen (capturing) before the page's own handler.
    page.add_init_script(
        "window.dialogCloses = 0;"
        " document.addEventListener('close', () => { window.dialogCloses += 1; }, true)")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "") if r.method == "POST" else None)
    page.goto("/admin/clients?view=matched")
    page.get_by_role("button", name="Sync All to Brevo").click()
    dialog = page.get_by_role("dialog", name="Sync all to Brevo?")
    expect(plan_count(page, "creates")).to_have_text("3")
    before = snapshot(db)
    dialog.get_by_role("button", name="Cancel").click()
    page.wait_for_function("() => window.dialogCloses === 1")
    # A sync would have shown its progress at once, in the same close event's handler.
    expect(dialog).to_be_hidden()
    expect(page.locator("#sync-progress")).to_be_hidden()
    expect(page.locator("#sync-result")).to_be_hidden()
    assert posts == ['{"dry_run":true}']
    assert snapshot(db) == before
    with live.api() as api:
        plan = api.post("/api/admin/customers/sync-all", json={"dry_run": True}).json()
    assert plan["counts"]["creates"] == 3


def test_a_refused_plan_cannot_be_confirmed(
    db: psycopg.Connection[Any], live: Live, page: Page
) -> None:
    ids = add_customers(db, 10)
    with live.api() as api:
        api.post("/api/admin/customers/sync-all", json={}).raise_for_status()
    db.execute("UPDATE customers SET marketing_opt_in = false WHERE id = ANY(%s)", (ids[:6],))
    db.execute("DELETE FROM brevo_sync.queue")
    page.goto("/admin/clients")
    page.get_by_role("button", name="Sync All to Brevo").click()
    dialog = page.get_by_role("dialog", name="Sync all to Brevo?")
    expect(dialog.locator("#sync-plan-message")).to_have_text(
        re.compile(r"^Sync All would change nothing: refused: .*6 of 10"))
    expect(plan_count(page, "blocklists")).to_have_text("6")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_disabled()


def test_a_plan_asked_while_a_sweep_runs_follows_when_it_ends(
    db: psycopg.Connection[Any], database_url: str, live: Live, page: Page
) -> None:
    arrange(db, live)
    page.goto("/admin/clients")
    with psycopg.connect(database_url) as sweeping:  # holds the sweep's lock, as a sweep does
        held = sweeping.execute("SELECT pg_try_advisory_xact_lock(%s)", (SWEEP_LOCK_KEY,))
        assert held.fetchone() == (True,)
        page.get_by_role("button", name="Sync All to Brevo").click()
        dialog = page.get_by_role("dialog", name="Sync all to Brevo?")
        expect(dialog.locator("#sync-plan-message")).to_have_text(
            "A sync is running; the plan follows when it ends…")
        expect(dialog.get_by_role("button", name="Confirm")).to_be_disabled()
        sweeping.rollback()
    expect(plan_count(page, "creates")).to_have_text("3")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_enabled()
