"""Pruning history, finished runs and received webhook events older than
HISTORY_RETENTION_DAYS, in bounded batches.

Each statement deletes at most BATCH rows, so no statement runs long or bloats the WAL in one
go; the sweep loops until nothing old is left or its time is up, and the next sweep goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from brevo_sync.db import Pool, q

log = structlog.get_logger("brevo_sync.housekeeping")

BATCH = 5000


@dataclass(frozen=True)
class Pruned:
    history: int
    runs: int
    complete: bool  # False when time ran out with old rows left
    webhook_events: int = 0

    def as_json(self) -> dict[str, int | bool]:
        return {"history": self.history, "runs": self.runs,
                "webhook_events": self.webhook_events, "complete": self.complete}


async def prune(pool: Pool, retention_days: int, *, deadline: float | None = None,
                batch: int = BATCH) -> Pruned:
    """Delete old rows a batch at a time until none are left or `deadline` (monotonic) passes;
    at least one batch of each table is always pruned."""
    counts = {}
    complete = True
    async with pool.connection() as conn:
        for table, query in (("history", q("prune_history")), ("runs", q("prune_runs")),
                             ("webhook_events", q("prune_webhook_events"))):
            deleted = 0
            while True:
                params = {"days": retention_days, "batch": batch}
                n = (await conn.execute(query, params)).rowcount
                deleted += n
                if n < batch:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    complete = False
                    break
            counts[table] = deleted
    if any(counts.values()):
        log.info("housekeeping", **counts, complete=complete)
    return Pruned(counts["history"], counts["runs"], complete, counts["webhook_events"])
