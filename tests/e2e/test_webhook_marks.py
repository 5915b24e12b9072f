"""The Clients Manager marks an address a Brevo webhook reported as hard-bounced."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect

from brevo_sync.config import Secret, Settings
from tests.e2e.conftest import Live, screenshot
from tests.factories import add_customer

pytestmark = pytest.mark.browser

SECRET = "e2e-webhook-secret-0123456789abcdef"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhook_secret=Secret(SECRET))


def test_a_hard_bounce_shows_on_the_customers_row(
        db: psycopg.Connection[Any], live: Live, page: Page) -> None:
    cid = add_customer(db, email="bounced@example.com", marketing_opt_in=True)
    answer = httpx.post(f"{live.url}/api/webhooks/brevo",
                        headers={"authorization": f"Bearer {SECRET}"},
                        json=[{"event": "hard_bounce", "email": "bounced@example.com",
                               "ts_event": int(time.time()), "reason": "no such mailbox"}])
    assert answer.status_code == 200 and answer.json()["applied"] == 1
    page.goto("/admin/clients")
    target = page.locator("#rows tbody tr",
                          has=page.locator('[data-cell="email"]:text-is("bounced@example.com")'))
    mark = target.locator('[data-cell="in_brevo"]')
    expect(mark).to_contain_text("email undeliverable (hard bounce at")
    # Pushed from the page, the row is redrawn by the script: the mark stays.
    target.get_by_role("button", name="Push to Brevo").click()
    expect(mark.locator(".mark")).to_have_text("✓")
    expect(mark).to_contain_text("email undeliverable (hard bounce at")
    screenshot(page, "hard-bounce-mark")
    assert cid
