"""Brevo's contact-list names, kept a while so the Brevo view names lists instead of showing ids.

The mirror holds list ids only; names live in Brevo (GET /contacts/lists). They change rarely,
so one listing serves every page for NAMES_TTL_SECONDS. The page never waits long on Brevo for
them: past FETCH_TIMEOUT_SECONDS, or when Brevo fails, the ids are shown and the listing is
tried again after RETRY_SECONDS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import structlog

from brevo_sync.brevo import BrevoClient, BrevoError

log = structlog.get_logger("api.list_names")

NAMES_TTL_SECONDS = 600.0
RETRY_SECONDS = 60.0
FETCH_TIMEOUT_SECONDS = 2.0


class ListNames:
    def __init__(self, client: BrevoClient) -> None:
        self.client = client
        self._names: dict[int, str] = {}
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def names(self) -> dict[int, str]:
        async with self._lock:  # concurrent pages wait for one listing
            if time.monotonic() >= self._until:
                await self._fetch()
            return self._names

    async def label(self, list_ids: Iterable[int]) -> list[dict[str, Any]]:
        """`[{id, name}]` for these ids; name is None when Brevo did not give one."""
        names = await self.names()
        return [{"id": i, "name": names.get(i)} for i in list_ids]

    def clear(self) -> None:
        self._until = 0.0

    async def _fetch(self) -> None:
        try:
            self._names = await asyncio.wait_for(self.client.list_names(),
                                                 FETCH_TIMEOUT_SECONDS)
            self._until = time.monotonic() + NAMES_TTL_SECONDS
        except (BrevoError, TimeoutError) as exc:
            log.warning("list_names_unavailable", error=type(exc).__name__)
            self._until = time.monotonic() + RETRY_SECONDS
