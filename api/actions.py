"""The admin's buttons, as calls into the sync: push one customer, sweep everything, refresh
the mirror. One object per app, holding what the calls share."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from structlog.contextvars import bound_contextvars

from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Settings
from brevo_sync.db import Pool
from brevo_sync.mirror import refresh_mirror
from brevo_sync.outcome import Outcome
from brevo_sync.pause import note_accepted
from brevo_sync.plan import Plan
from brevo_sync.reconcile import SweepResult, plan_sweep, run_sweep
from brevo_sync.wiring import engine_from, prepare_brevo


class Actions:
    def __init__(self, settings: Settings, pool: Pool, client: BrevoClient) -> None:
        self.settings = settings
        self.pool = pool
        self.client = client

    async def prepare(self) -> None:
        """The preflight checks (creating the sync's attributes) once for the app's client, on
        first need: an app that cannot reach Brevo still starts and shows its pages."""
        await prepare_brevo(self.client, self.settings)

    async def push(self, customer_id: UUID) -> Outcome | None:
        """A refusal of the account raises BrevoAccountError (api/errors.py answers 503)."""
        await self.prepare()
        engine = engine_from(self.settings, self.pool, self.client, source="admin")
        with bound_contextvars(source="admin", worker=engine.worker):
            outcome = await engine.push_customer(customer_id)
        if outcome is not None and outcome.result == "ok":
            await note_accepted(self.pool, source="admin")  # Brevo took this key again
        return outcome

    async def sync_all(self, budget: float | None) -> SweepResult:
        """The reconciliation sweep, as the cron runs it: it records its progress in
        brevo_sync.runs as it goes, which GET sync-all shows while this call waits."""
        return await run_sweep(self.settings, self.pool, self.client, source="admin", budget=budget)

    async def plan(self) -> Plan | SweepResult:
        """Sync All's dry run: what the sweep would change, nothing changed (Brevo is only
        read); a SweepResult when a sweep is running."""
        return await plan_sweep(self.settings, self.pool, self.client)

    async def refresh_mirror(self, full: bool) -> dict[str, Any]:
        refreshed = await refresh_mirror(self.pool, self.client, full=full,
                                         names=self.settings.attribute_names)
        await note_accepted(self.pool, source="admin")
        return refreshed.as_json()
