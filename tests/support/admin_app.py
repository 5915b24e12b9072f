"""The admin app (api.app) against the test database and the in-process Brevo emulator.

A test module declares its fixtures with these helpers:

    @pytest.fixture
    async def app(settings, emulator):
        async with running_app(settings, emulator) as started:
            yield started
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette

from api.app import create_app
from brevo_sync.config import Secret, Settings

USER = "admin"
PASSWORD = "correct horse battery staple"
ORIGIN = "http://admin.test"


def admin_settings(settings: Settings, **changes: Any) -> Settings:
    """The test settings with an admin password, and Brevo limits that never make tests wait."""
    return dataclasses.replace(
        settings,
        admin_password=Secret(PASSWORD),
        contacts_per_second=10_000.0,
        contacts_per_hour=10_000_000,
        other_per_hour=100_000,
        **changes,
    )


def client(
    app: Starlette,
    auth: tuple[str, str] | None = (USER, PASSWORD),
    origin: str | None = ORIGIN,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """As the admin's browser calls: with the Origin it sends (`origin=None`: as a script
    that sends none)."""
    headers = {"origin": origin} if origin else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=ORIGIN,
        auth=auth,
        headers=headers,
        **kwargs,
    )


def store(emulator: Any) -> Any:
    """The emulator's contact store, under the conformance checker."""
    return emulator.app.state.store


@asynccontextmanager
async def running_app(settings: Settings, emulator: Any) -> AsyncIterator[Starlette]:
    """The app started (its lifespan run), on the test database and the emulator."""
    application = create_app(
        admin_settings(settings), brevo_transport=httpx.ASGITransport(app=emulator)
    )
    async with application.router.lifespan_context(application):
        yield application
