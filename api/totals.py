"""The views' totals and the sync figures, kept for a few seconds.

Counting Matched and Unmatched joins every customer to the mirror by email: at 100,000 rows
that costs more than a page itself. Every page shows these totals, and the status card is
polled while a sync runs, so they are computed at most once per TTL and shared by concurrent
requests; the admin's own actions clear them. A search is always counted afresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from brevo_sync.db import Pool
from brevo_sync.views import sync_figures, view_counts

COUNTS_TTL_SECONDS = 5.0
FIGURES_TTL_SECONDS = 1.0
POOL_WAIT_SECONDS = 5.0


class Totals:
    def __init__(
        self,
        pool: Pool,
        *,
        counts_ttl: float = COUNTS_TTL_SECONDS,
        figures_ttl: float = FIGURES_TTL_SECONDS,
    ) -> None:
        self.pool = pool
        self.ttl = {"counts": counts_ttl, "figures": figures_ttl}
        self._values: dict[str, tuple[float, Any]] = {}
        self._locks = {key: asyncio.Lock() for key in self.ttl}
        self._generation = 0

    async def counts(self) -> dict[str, int]:
        """The four tabs' totals (no search)."""
        counts: dict[str, int] = await self._get("counts", view_counts)
        return counts

    async def figures(self) -> dict[str, int]:
        figures: dict[str, int] = await self._get("figures", sync_figures)
        return figures

    def clear(self) -> None:
        self._generation += 1
        self._values.clear()

    async def _get(self, key: str, compute: Callable[[Any], Awaitable[Any]]) -> Any:
        async with self._locks[key]:  # concurrent requests wait for one computation
            cached = self._values.get(key)
            if cached is not None and time.monotonic() - cached[0] < self.ttl[key]:
                return cached[1]
            generation = self._generation
            async with self.pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
                value = await compute(conn)
            if generation == self._generation:  # not cleared meanwhile: worth keeping
                self._values[key] = (time.monotonic(), value)
            return value
