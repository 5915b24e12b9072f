"""One reconciliation sweep: the safety net behind the listener.

lock -> run row -> plan: refresh the mirror, Brevo's unsubscribes and the drift (SQL), the
safeguard's verdict (brevo_sync/plan.py) -> act: Brevo unsubscribes into Neon, queue the
drift, drain within the budget -> record the run -> housekeeping.

The same sweep answers `brevo-sync reconcile`, GET /api/cron/sync-brevo and the admin's
Sync All. Two never overlap: the second finds the lock taken and says so at once. A dry run
(`reconcile --dry-run`, Sync All's confirmation) takes the same lock, plans, and stops there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from psycopg.types.json import Jsonb
from structlog.contextvars import bind_contextvars, bound_contextvars

from brevo_sync import queue
from brevo_sync.brevo import BrevoAccountError, BrevoClient, BrevoError
from brevo_sync.config import Settings
from brevo_sync.db import Pool, connect, q, statement_deadline
from brevo_sync.drift import (
    Drift,
    enqueue_drift,
    find_drift,
    guard_refusal,
    unsubscribe_refusal,
)
from brevo_sync.engine import DrainReport
from brevo_sync.housekeeping import prune
from brevo_sync.mirror import refresh_mirror
from brevo_sync.outcome import Outcome
from brevo_sync.pause import note_accepted, note_refused
from brevo_sync.plan import Plan, changes_of, first_rows
from brevo_sync.preflight import WOULD_CREATE, PreflightError, run_preflight
from brevo_sync.unsubscribes import find_unsubscribes, reflect_unsubscribes
from brevo_sync.wiring import brevo_prepared, engine_from, policy_from, prepare_brevo

log = structlog.get_logger("brevo_sync.reconcile")

# Any constant works; this one spells "bsweep" in ASCII.
SWEEP_LOCK_KEY = 0x62_73_77_65_65_70
ALREADY_RUNNING = "a sweep is already running"
RESULTS_CAP = 500          # outcomes listed in the answer; failures get FAILURES_CAP more
FAILURES_CAP = 500
PROGRESS_EVERY = 1.0       # seconds between writes of runs.counts while the sweep runs
FINISH_RESERVE = 10.0      # seconds of the budget kept back from pushing, to finish tidily
HOUSEKEEPING_MIN = 2.0     # seconds housekeeping may always take, even past the budget

Progress = Callable[[dict[str, int]], None]
# The counts of contacts changed in Brevo, by the engine's action (a rename is an update).
DONE = {"create": "created", "update": "updated", "remove": "removed"}

@dataclass
class SweepResult:
    status: str                     # done | partial | refused | failed | running | paused
    message: str
    run_id: int | None = None
    synced: int = 0
    failed: int = 0
    total: int = 0
    remaining: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    refused: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status in ("done", "partial") and self.failed == 0

    def as_json(self) -> dict[str, Any]:
        """The answer of POST sync-all and of the cron route."""
        body: dict[str, Any] = {
            "success": self.success,
            "message": self.message,
            "synced": self.synced,
            "failed": self.failed,
            "total": self.total,
            "remaining": self.remaining,
            "results": self.results,
            "run_id": self.run_id,
            "status": self.status,
            "counts": self.counts,
        }
        if self.refused is not None:
            body["refused"] = self.refused
        if self.status in ("running", "failed", "paused"):
            body["error"] = self.message
        return body


async def run_sweep(settings: Settings, pool: Pool, client: BrevoClient, *, source: str,
                    budget: float | None = None, progress: Progress | None = None,
                    stop: asyncio.Event | None = None) -> SweepResult:
    """Reconcile Brevo with the customers table; pushing stops after `budget` seconds (the
    rest stays queued for the next sweep or the listener) or when `stop` is set."""
    began = time.monotonic()
    async with sweep_lock(settings.require_database()) as locked:
        if not locked:
            return await _already_running(pool)
        sweep = _Sweep(settings, pool, client, source=source, began=began, budget=budget,
                       progress=progress, stop=stop)
        return await sweep.run()


@asynccontextmanager
async def sweep_lock(dsn: str) -> AsyncIterator[bool]:
    """Yield whether this process got the sweep lock; held until the block ends.

    A transaction-level advisory lock in a transaction kept open on a dedicated connection:
    unlike a session lock it also works through Neon's transaction pooler (a session lock
    would stay on whichever server connection PgBouncer picked), and it goes away with the
    connection if the process dies.
    """
    # Not in autocommit: the first statement opens the transaction that holds the lock.
    conn = await connect(dsn, "brevo-sync-sweep-lock", autocommit=False)
    try:
        await conn.execute(q("sweep_lock_session"))
        row = await (await conn.execute(q("sweep_try_lock"), {"key": SWEEP_LOCK_KEY})).fetchone()
        yield bool(row and row["locked"])
    finally:
        with suppress(psycopg.Error):
            await conn.rollback()
        await conn.close()


async def plan_sweep(settings: Settings, pool: Pool, client: BrevoClient) -> Plan | SweepResult:
    """A dry run: the sweep's plan, with nothing done. Brevo is only read (its setup, its
    contacts into the mirror); the customers, the queue, the sync's state and history, the
    runs are left as they are. A SweepResult ("running") when a sweep holds the lock."""
    async with sweep_lock(settings.require_database()) as locked:
        if not locked:
            return await _already_running(pool)
        setup = await _read_setup(client, settings)
        mirror = await refresh_mirror(pool, client, names=settings.attribute_names)
        plan = await make_plan(settings, pool, mirror.as_json())
        plan.setup = setup
        log.info("reconcile_planned", status="refused" if plan.refused else "planned",
                 **plan.counts())
        return plan


async def _read_setup(client: BrevoClient, settings: Settings) -> list[str]:
    """The preflight checks without creating anything: what the sweep would create first.
    Brevo unreachable or refusing the key raises, as does a setup the sweep would stop on."""
    report = await run_preflight(client, settings, create=False)
    if report.error is not None:
        raise report.error
    if any(not f.detail.startswith(WOULD_CREATE) for f in report.problems):
        raise PreflightError(report)
    return [f"{f.check} {f.name}: {f.detail} (the sweep creates it first)"
            for f in report.problems]


async def make_plan(settings: Settings, pool: Pool, mirror: dict[str, Any]) -> Plan:
    """From the database alone, the mirror just refreshed: Brevo's unsubscribes, the drift as
    the sweep will act on it, the safeguard's verdict and the first rows of each change."""
    policy = policy_from(settings)
    found = await find_unsubscribes(pool, settings.brevo_list_id)
    drift = await find_drift(pool, policy, [u[0] for u in found])
    share = settings.removal_guard_share
    refused = unsubscribe_refusal(len(found), drift.synced_contacts, share) or \
        guard_refusal(drift.removals, drift.synced_contacts, share)
    changes = changes_of(drift, found)
    rows = await first_rows(pool, policy, changes, found)
    return Plan(drift, found, changes, rows, refused=refused, mirror=mirror)


async def _already_running(pool: Pool) -> SweepResult:
    async with pool.connection() as conn:
        row = await (await conn.execute(q("run_running"))).fetchone()
    run_id = int(row["id"]) if row else None
    counts = dict(row["counts"] or {}) if row else {}
    return SweepResult("running", ALREADY_RUNNING, run_id=run_id, counts=counts,
                       remaining=int(counts.get("remaining", 0)))


class _Tally:
    """What the sweep has done so far: the run's counts, and the capped list of results."""

    def __init__(self) -> None:
        self.counts: dict[str, Any] = {"phase": "starting"}
        self.results: list[dict[str, Any]] = []
        self.failures_listed = 0
        self.dirty = True

    def set(self, **values: Any) -> None:
        self.counts.update(values)
        self.dirty = True

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = int(self.counts.get(name, 0)) + n
        self.dirty = True

    def outcome(self, outcome: Outcome) -> None:
        self.add({"ok": "synced", "skipped": "synced", "error": "failed"}.get(
            outcome.result, "retrying"))
        done = DONE.get(outcome.action) if outcome.result == "ok" else None
        if done is not None:
            # What changed in Brevo, in the plan's words (the page's result says it).
            self.add("blocklisted" if outcome.removed_by_sync == "blocklist" else done)
        self.counts["remaining"] = max(0, int(self.counts.get("remaining", 0)) - 1)
        failed = outcome.result != "ok" and outcome.result != "skipped"
        if len(self.results) < RESULTS_CAP or (failed and self.failures_listed < FAILURES_CAP):
            item = outcome.as_json()
            if failed:
                item["reason"] = outcome.message
                self.failures_listed += 1
            self.results.append(item)

    def numbers(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if isinstance(v, int)}


class _Sweep:
    def __init__(self, settings: Settings, pool: Pool, client: BrevoClient, *, source: str,
                 began: float, budget: float | None, progress: Progress | None,
                 stop: asyncio.Event | None) -> None:
        self.settings = settings
        self.pool = pool
        self.client = client
        self.source = source
        self.began = began
        self.budget = budget
        self.deadline = None if budget is None else began + budget
        self.progress = progress
        self.stop = stop
        self.tally = _Tally()
        self.run_id: int | None = None
        self.calls_before = _calls(client)

    async def run(self) -> SweepResult:
        # The budget holds around every statement too: one that would outlive it (a plan gone
        # bad, a lock held elsewhere) is cancelled by Postgres instead of holding the sweep's
        # lock, and every other sweep with it, for as long as it takes.
        # Every line logged for this run says it comes from a sweep, which run and worker, and
        # what started it (cron, cli, admin); run_id and worker are bound once known.
        with statement_deadline(self.deadline), bound_contextvars(
                source="sweep", started_by=self.source, run_id=None, worker=None):
            return await self._run()

    async def _run(self) -> SweepResult:
        async with self.pool.connection() as conn:
            await conn.execute(q("runs_abandoned"))
            row = await (await conn.execute(q("run_start"), {
                "source": self.source, "counts": Jsonb(self.tally.counts)})).fetchone()
        assert row is not None
        self.run_id = int(row["id"])
        bind_contextvars(run_id=self.run_id)
        log.info("reconcile_start", run_id=self.run_id, source=self.source, budget=self.budget)
        ticker = asyncio.create_task(self._tick(), name="reconcile-progress")
        try:
            result = await self._steps()
        except BrevoAccountError as exc:
            # Not the rows' fault: they stay queued, untouched, for when Brevo answers again.
            await note_refused(self.pool, exc, source=self.source)
            result = self._ended("paused", f"Brevo refuses the account ({exc}); nothing was"
                                 " pushed or recorded against customers, the next sweep"
                                 " tries again")
        except BrevoError as exc:
            log.warning("reconcile_failed", run_id=self.run_id, error=str(exc))
            result = self._ended("failed", f"Brevo could not be reached or refused: {exc}")
        except psycopg.errors.QueryCanceled as exc:
            log.warning("reconcile_failed", run_id=self.run_id, error=str(exc))
            result = self._ended("failed", "a database statement outlived the sweep's"
                                 f" {self.budget or 0:.0f} s budget and was cancelled: {exc}")
        except Exception as exc:
            log.exception("reconcile_failed", run_id=self.run_id)
            result = self._ended("failed", f"the sweep failed: {type(exc).__name__}: {exc}")
        finally:
            ticker.cancel()
            with suppress(asyncio.CancelledError):
                await ticker
        await self._finish(result)
        return result

    async def _steps(self) -> SweepResult:
        if not brevo_prepared(self.client, self.settings):
            # Once per client: a setup problem (a missing list, an attribute of another
            # type) stops the sweep before it reads or writes anything.
            self._phase("preflight")
            try:
                await prepare_brevo(self.client, self.settings)
            except PreflightError as exc:
                return self._ended("failed", str(exc))
        plan = await self._plan()
        if plan.refused is not None:
            return await self._refuse(plan.refused, unsubscribes=len(plan.unsubscribes),
                                      removals=plan.drift.removals,
                                      synced_contacts=plan.drift.synced_contacts)
        return await self._act(plan)

    async def _plan(self) -> Plan:
        """Read only (the mirror aside): what a dry run shows, the sweep then does."""
        self._phase("mirror")
        mirror = await refresh_mirror(self.pool, self.client,
                                      on_page=lambda n: self._set(listed=n),
                                      names=self.settings.attribute_names)
        await note_accepted(self.pool, source=self.source)  # Brevo answered this key
        self.tally.set(mirror=mirror.as_json())
        self._phase("plan")
        plan = await make_plan(self.settings, self.pool, mirror.as_json())
        self._set(total=plan.drift.opted_in, drift_found=plan.drift.total)
        self.tally.set(drift=plan.drift.counts(), plan=plan.counts())
        return plan

    async def _act(self, plan: Plan) -> SweepResult:
        self._phase("unsubscribes")
        self._set(unsubscribed=await reflect_unsubscribes(
            self.pool, source=self.source, run_id=self.run_id, found=plan.unsubscribes))
        await self._enqueue(plan.drift)
        plan.release()  # the ids are in the queue now; keep the sweep's memory flat
        report = await self._drain()
        await self._housekeeping()
        return await self._summary(report)

    async def _refuse(self, reason: str, **numbers: int) -> SweepResult:
        """Stop before acting: nothing is queued, pushed or opted out; the run says why."""
        log.warning("reconcile_refused", run_id=self.run_id, **numbers)
        await self._housekeeping()
        return self._ended("refused", reason, refused=reason)

    async def _enqueue(self, drift: Drift) -> None:
        self._phase("queue")
        added = await enqueue_drift(self.pool, drift)
        self._set(queued=sum(added.values()))

    async def _drain(self) -> DrainReport:
        self._phase("push")
        engine = engine_from(self.settings, self.pool, self.client, source=self.source,
                             run_id=self.run_id, on_outcome=self._outcome)
        bind_contextvars(worker=engine.worker)
        ready = await engine.ready_count()
        self._set(remaining=ready)
        if ready == 0:
            return DrainReport()
        report = await engine.drain(deadline=self._push_deadline(), stop=self.stop)
        self._set(bulk_imports=report.bulk_imports)
        return report

    def _push_deadline(self) -> float | None:
        if self.deadline is None or self.budget is None:
            return None
        return self.deadline - min(FINISH_RESERVE, self.budget * 0.1)

    async def _housekeeping(self) -> None:
        self._phase("housekeeping")
        deadline = None if self.deadline is None else max(
            self.deadline, time.monotonic() + HOUSEKEEPING_MIN)
        with statement_deadline(deadline):
            pruned = await prune(self.pool, self.settings.history_retention_days,
                                 deadline=deadline)
        self.tally.set(pruned=pruned.as_json())

    async def _summary(self, report: DrainReport) -> SweepResult:
        async with self.pool.connection() as conn:
            depth = await queue.depth(conn)
        pending = int(depth["pending"]) if depth else 0
        ready = int(depth["ready"]) if depth else 0
        self._set(remaining=pending)
        status = "partial" if ready > 0 else "done"
        return self._ended(status, self._message(status, report, pending))

    def _message(self, status: str, report: DrainReport, pending: int) -> str:
        counts = self.tally.counts
        drift = counts.get("drift", {})
        found = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in drift.items() if n)
        text = (f"drift found: {found}" if found
                else f"no drift among {counts.get('total', 0)} opted-in customers")
        if counts.get("unsubscribed"):
            text += f"; {counts['unsubscribed']} unsubscribed in Brevo, opted out here"
        pushed = report.synced + report.failed
        if pushed or report.counts.get("retry"):
            text += f"; pushed {pushed}: {report.synced} synced, {report.failed} failed"
        if report.counts.get("retry"):
            text += f", {report.counts['retry']} to retry"
        if status == "partial" and self.stop is not None and self.stop.is_set():
            text += f"; stopped with {pending} still pending, the next sweep goes on"
        elif status == "partial" and self.budget is not None:
            text += (f"; the {self.budget:.0f} s budget ran out with {pending} still pending,"
                     " the next sweep goes on")
        elif pending:
            text += f"; {pending} waiting for a retry"
        return text[0].upper() + text[1:]

    def _ended(self, status: str, message: str, *, refused: str | None = None) -> SweepResult:
        counts = self.tally.counts
        counts["phase"] = status
        counts["seconds"] = round(time.monotonic() - self.began, 3)
        counts["brevo_calls"] = _calls(self.client) - self.calls_before
        return SweepResult(
            status, message, run_id=self.run_id,
            synced=int(counts.get("synced", 0)), failed=int(counts.get("failed", 0)),
            total=int(counts.get("total", 0)), remaining=int(counts.get("remaining", 0)),
            results=self.tally.results, refused=refused, counts=dict(counts))

    async def _finish(self, result: SweepResult) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(q("run_finish"), {
                "id": self.run_id, "status": result.status, "counts": Jsonb(result.counts),
                "message": result.message})
        self._report_progress()
        log.info("reconcile_done", run_id=self.run_id, source=self.source,
                 status=result.status, synced=result.synced, failed=result.failed,
                 remaining=result.remaining, seconds=result.counts.get("seconds"),
                 brevo_calls=result.counts.get("brevo_calls"))

    # --- progress ----------------------------------------------------------------------

    def _outcome(self, outcome: Outcome) -> None:
        self.tally.outcome(outcome)
        self._report_progress()

    def _phase(self, name: str) -> None:
        self._set(phase=name)

    def _set(self, **values: Any) -> None:
        self.tally.set(**values)
        self._report_progress()

    def _report_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.tally.numbers())

    async def _tick(self) -> None:
        """Write the run's counts every PROGRESS_EVERY seconds, for the admin page to poll."""
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            if not self.tally.dirty:
                continue
            self.tally.dirty = False
            try:
                async with self.pool.connection() as conn:
                    await conn.execute(q("run_progress"), {
                        "id": self.run_id, "counts": Jsonb(self.tally.counts)})
            except psycopg.Error as exc:
                log.warning("reconcile_progress_not_saved", error=str(exc))


def _calls(client: BrevoClient) -> int:
    return sum(client.stats.calls.values())

