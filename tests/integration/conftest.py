"""Fixtures for the admin API's tests: the app running against the test database and the
emulator, and an HTTP client logged in as the admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from brevo_sync.config import Settings
from tests.support.admin_app import client, running_app


@pytest.fixture
async def app(settings: Settings, emulator: Any) -> AsyncIterator[Starlette]:
    async with running_app(settings, emulator) as started:
        yield started


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client(app) as admin:
        yield admin
