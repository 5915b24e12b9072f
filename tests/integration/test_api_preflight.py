"""The admin API runs the preflight checks before its first push: a setup problem is a 503
that says what to fix, not a failure recorded against the customer."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
import pytest

from brevo_sync.config import Settings
from tests.factories import add_customer, state
from tests.support.admin_app import client, running_app


@pytest.mark.anyio
async def test_an_admin_push_on_an_account_not_set_up_says_what_is_missing(
        db: psycopg.Connection[Any], settings: Settings, emulator: Any) -> None:
    cid = add_customer(db)
    wrong = dataclasses.replace(settings, brevo_list_id=99)
    async with running_app(wrong, emulator) as app, client(app) as admin:
        response = await admin.post(f"/api/admin/customers/{cid}/push")
    assert response.status_code == 503
    assert "Brevo has no list 99: set BREVO_LIST_ID" in response.json()["error"]
    assert state(db, cid) is None
