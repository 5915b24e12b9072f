"""The listener runs the preflight checks at start: a setup problem stops it with an error."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from structlog.testing import capture_logs

from brevo_sync.config import Settings
from tests.integration.test_listener import asgi, eventually, fast_settings, running

__all__ = ["fast_settings"]  # the fixture, shared with the listener's tests


@pytest.mark.anyio
async def test_an_attribute_of_another_type_stops_the_listener_naming_it(
        fast_settings: Settings, store: Any, emulator: Any) -> None:
    store.attributes.create("normal", "USED_WELCOME_OFFER", {"type": "text"})
    with capture_logs() as logs:
        async with running(fast_settings, asgi(emulator)) as service:
            assert await asyncio.wait_for(service.task, 10) == 1
    [refused] = [e for e in logs if e["event"] == "listener_brevo_not_set_up"]
    assert "USED_WELCOME_OFFER: is a text attribute, the sync writes boolean" in \
        refused["problems"]


@pytest.mark.anyio
async def test_the_listener_starts_on_a_french_account_with_its_names(
        fast_settings: Settings, store: Any, emulator: Any) -> None:
    store.attributes.reset("fr")
    settings = dataclasses.replace(fast_settings, attribute_names=dataclasses.replace(
        fast_settings.attribute_names, firstname="PRENOM", lastname="NOM"))
    with capture_logs() as logs:
        async with running(settings, asgi(emulator)) as service:
            await eventually("the listener to connect", lambda: service.health.connected, 10)
            assert not service.task.done()
    assert [e for e in logs if e["event"] == "brevo_preflight_ok"]
