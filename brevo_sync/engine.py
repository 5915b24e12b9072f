"""The one engine behind the listener, the cron sweep and the admin buttons.

claim rows (SKIP LOCKED, short leases) -> read the customers' current rows -> decide (pure)
-> push (one call each, or a bulk import for a backlog) -> record, write back, release.

When Brevo refuses the account itself (BrevoAccountError: 401, 402, 403), nothing is recorded
against the rows: every lease of the batch not yet recorded is given back as if never taken,
and the error goes up to the caller, which pauses (see brevo_sync/pause.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import structlog

from brevo_sync import queue
from brevo_sync.attributes import AttributeNames
from brevo_sync.brevo import BrevoClient
from brevo_sync.brevo.errors import BrevoAccountError, BrevoDeadlineError, BrevoError
from brevo_sync.brevo.limiter import deadline as brevo_deadline
from brevo_sync.db import Pool, q
from brevo_sync.decide import Action, Create, Policy, Remove, Update, decide
from brevo_sync.differs import held_bool
from brevo_sync.identity import claim_of
from brevo_sync.importer import ImportRow, Imports, ImportTiming
from brevo_sync.mirror import vouch_for_mirror
from brevo_sync.outcome import Outcome, record
from brevo_sync.push import push, retry_delay
from brevo_sync.rows import Customer, MirrorContact, QueueItem, SyncState
from brevo_sync.stale_ids import Checked, check_stored_ids

log = structlog.get_logger("brevo_sync.engine")

SMALL_BATCH = 20                # rows leased at a time for one-by-one pushes (about 2 s of calls)
BULK_BATCH = 20_000             # rows leased at a time for the import path
SMALL_LEASE_SECONDS = 120.0
BULK_LEASE_SECONDS = 900.0
# One-by-one pushes a bulk lease may carry: well within the lease at Brevo's 10 calls/s.
BULK_ONE_BY_ONE = 3_000
CONCURRENCY = 8                 # Brevo calls in flight; the rate limiter still paces them
# While waiting for an open import, the queue is still looked at this often (and, whatever
# the import's own schedule, no more often than IMPORT_WAIT_MIN).
IMPORT_WAIT_STEP = 1.0
IMPORT_WAIT_MIN = 0.05


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


KEPT_OUTCOMES = 1000            # per-customer results a report keeps when asked to (memory bound)


@dataclass
class DrainReport:
    """Counts of everything pushed; the first `keep` outcomes, and up to `keep` failures."""

    keep: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[Outcome] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    bulk_imports: int = 0
    imports_settled: int = 0

    def add(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self.counts[outcome.result] += 1
            if len(self.outcomes) < self.keep:
                self.outcomes.append(outcome)
            if outcome.result == "error" and len(self.failures) < self.keep:
                self.failures.append(outcome)

    @property
    def synced(self) -> int:
        return self.counts["ok"] + self.counts["skipped"]

    @property
    def failed(self) -> int:
        return self.counts["error"]


@dataclass(frozen=True)
class Prepared:
    item: QueueItem
    customer: Customer | None
    known: MirrorContact | None
    action: Action


class Engine:
    def __init__(
        self,
        pool: Pool,
        client: BrevoClient,
        policy: Policy,
        *,
        source: str,
        bulk_threshold: int = 200,
        concurrency: int = CONCURRENCY,
        small_batch: int = SMALL_BATCH,
        bulk_batch: int = BULK_BATCH,
        run_id: int | None = None,
        keep_outcomes: bool | int = False,
        on_outcome: Callable[[Outcome], None] | None = None,
        import_timing: ImportTiming | None = None,
    ) -> None:
        self.pool = pool
        self.client = client
        self.policy = policy
        self.source = source
        self.worker = new_worker_id()
        self.bulk_threshold = bulk_threshold
        self.concurrency = concurrency
        self.small_batch = small_batch
        self.bulk_batch = bulk_batch
        self.run_id = run_id
        self.keep = KEPT_OUTCOMES if keep_outcomes is True else int(keep_outcomes)
        self.on_outcome = on_outcome
        self._slots = asyncio.Semaphore(concurrency)
        self.imports = Imports(pool, client, worker=self.worker, list_id=policy.list_id or 0,
                               load=self._customers, timing=import_timing)

    async def drain(self, *, deadline: float | None = None, stop: asyncio.Event | None = None,
                    wait_imports: bool = True) -> DrainReport:
        """Push what is pending until the queue has nothing ready, the deadline (a
        time.monotonic() value) passes, or `stop` is set. Open imports are looked at when
        due; with `wait_imports` the drain also waits for them to settle (within the
        deadline), else it returns and a later drain looks again. No wait for Brevo's rate
        budget ends past the deadline."""
        report = DrainReport(keep=self.keep)
        with brevo_deadline(deadline):
            while not _should_stop(deadline, stop):
                await self._look_at_imports(report, deadline, stop)
                bulk = self.policy.list_id is not None and \
                    await self.ready_count() >= self.bulk_threshold
                items = await self._claim(bulk)
                if items:
                    await self._process(items, report, bulk=bulk, deadline=deadline, stop=stop)
                    continue
                wait = await self.imports.next_look_in() if wait_imports else None
                if wait is None:
                    break
                await _pause(min(max(wait, IMPORT_WAIT_MIN), IMPORT_WAIT_STEP), deadline, stop)
        return report

    async def _look_at_imports(self, report: DrainReport, deadline: float | None,
                               stop: asyncio.Event | None) -> None:
        async def record(outcomes: list[Outcome]) -> None:
            await self._record(outcomes, report)

        looked: set[int] = set()
        while not _should_stop(deadline, stop):
            look = await self.imports.look_at_due(record, looked)
            if look is None:
                return
            report.imports_settled += look.settled

    async def _customers(self, customer_ids: list[UUID]) -> dict[UUID, Customer | None]:
        """The customers' current rows, for outcomes learnt from an import."""
        found: dict[UUID, Customer | None] = dict.fromkeys(customer_ids)
        found.update((row["queued_id"], _customer(row)) for row in await self._load(customer_ids))
        return found

    async def push_customer(self, customer_id: UUID) -> Outcome | None:
        """An admin's push of one customer, whether or not it was pending. None when another
        worker holds its row right now, or when no such customer exists."""
        async with self.pool.connection() as conn:
            await queue.enqueue(conn, [customer_id], "admin")
            rows = await queue.claim_one(conn, customer_id, worker=self.worker,
                                         lease=SMALL_LEASE_SECONDS)
        if not rows:
            return None
        report = DrainReport(keep=1)
        await self._process([_item(rows[0])], report, bulk=False, deadline=None, stop=None)
        return report.outcomes[0] if report.outcomes else None

    async def ready_count(self) -> int:
        async with self.pool.connection() as conn:
            row = await queue.depth(conn)
        return int(row["ready"]) if row else 0

    async def _claim(self, bulk: bool) -> list[QueueItem]:
        async with self.pool.connection() as conn:
            rows = await queue.claim(
                conn, worker=self.worker, limit=self.bulk_batch if bulk else self.small_batch,
                lease=BULK_LEASE_SECONDS if bulk else SMALL_LEASE_SECONDS)
        return [_item(r) for r in rows]

    async def _process(self, items: list[QueueItem], report: DrainReport, *, bulk: bool,
                       deadline: float | None, stop: asyncio.Event | None) -> None:
        try:
            await self._process_batch(items, report, bulk=bulk, deadline=deadline, stop=stop)
        except BrevoAccountError:
            # Rows recorded before the refusal no longer carry this worker's lease; the rest
            # go back untouched, their attempt not counted.
            await self._release_unpushed([i.customer_id for i in items])
            raise

    async def _process_batch(self, items: list[QueueItem], report: DrainReport, *, bulk: bool,
                             deadline: float | None, stop: asyncio.Event | None) -> None:
        prepared = await self._prepare(items, report)
        await self._note_intents(prepared)
        one_by_one = prepared
        if bulk and self.policy.list_id is not None:
            returned = await self.imports.returned([p.item.customer_id for p in prepared])
            rows, one_by_one = _split_for_import(prepared, returned, self.policy.attributes)
            if len(rows) >= self.bulk_threshold and not await self.imports.refused_lately():
                await self._import(rows, report)
            else:
                one_by_one = prepared
            # More than the lease can carry goes back to the queue for the next round, so no
            # other worker claims rows this one is still pushing.
            one_by_one, later = one_by_one[:BULK_ONE_BY_ONE], one_by_one[BULK_ONE_BY_ONE:]
            await self._release_unpushed([p.item.customer_id for p in later])
        await self._push_each(one_by_one, report, deadline, stop)

    async def _prepare(self, items: list[QueueItem], report: DrainReport) -> list[Prepared]:
        by_id = {i.customer_id: i for i in items}
        try:
            await vouch_for_mirror(self.pool, self.client)
            rows = await self._load(list(by_id))
            checked = await self._check_ids(rows, by_id, report)
        except BrevoAccountError:
            raise  # the account, not these rows: the caller pauses
        except BrevoError as exc:
            await self._record([Outcome(i, None, "check_id", "retry", message=str(exc),
                                        status="pending", retry_delay=retry_delay(i.attempts))
                                for i in items], report)
            return []
        except Exception as exc:
            log.error("brevo_identity_check_crashed", error=repr(exc))
            await self._back_off_crashed([(i, exc) for i in items])
            return []
        await self._release_unpushed(sorted(checked.deferred))
        left_out = checked.failed.keys() | checked.deferred
        if checked.asked or checked.forgotten:
            # The mirror learnt contacts and ids were forgotten: decide on the rows as they
            # are now, each customer then matched by email where its id was forgotten.
            rows = await self._load([i for i in by_id if i not in left_out])
        else:
            rows = [r for r in rows if r["queued_id"] not in left_out]
        prepared = []
        for row in rows:
            item = by_id[row["queued_id"]]
            customer = _customer(row)
            known = _known(row)
            memory = _memory(row)
            action = decide(item, customer, known, memory, self.policy,
                            shares_email_with=row["shares_email_with"])
            prepared.append(Prepared(item, customer, known, action))
        return prepared

    async def _load(self, ids: list[UUID]) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(q("claimed_customers_with_state"), {"ids": ids})
            return await cursor.fetchall()

    async def _check_ids(self, rows: list[dict[str, Any]], by_id: dict[UUID, QueueItem],
                         report: DrainReport) -> Checked:
        """Identity before every write by id: stored ids that name someone else's contact
        are forgotten; customers whose ids Brevo could not confirm now are retried later."""
        claims = [(claim_of(by_id[r["queued_id"]], _customer(r), _memory(r)), _known(r))
                  for r in rows]
        checked = await check_stored_ids(
            self.pool, self.client, [(c, k) for c, k in claims if c.contact_ids],
            slots=self._slots, source=self.source, run_id=self.run_id)
        for f in checked.forgotten:
            item = by_id[f.customer_id]
            if item.deleted_contact_id == f.contact_id:
                by_id[f.customer_id] = replace(item, deleted_contact_id=None)
        if checked.failed:
            await self._record([
                Outcome(by_id[r["queued_id"]], _customer(r), "check_id", "retry",
                        message=str(checked.failed[r["queued_id"]]), status="pending",
                        retry_delay=retry_delay(by_id[r["queued_id"]].attempts))
                for r in rows if r["queued_id"] in checked.failed], report)
        return checked

    async def _note_intents(self, prepared: list[Prepared]) -> None:
        """Write down what is about to be sent, before it is sent (see SyncState)."""
        intents = [(p.item.customer_id, *_intent(p.action)) for p in prepared
                   if isinstance(p.action, Create | Update | Remove)]
        if not intents:
            return
        async with self.pool.connection() as conn:
            await conn.execute(q("note_intent"), {
                "customer_ids": [i[0] for i in intents],
                "emails": [i[1] for i in intents],
                "removals": [i[2] for i in intents],
            })

    async def _import(self, rows: list[ImportRow], report: DrainReport) -> None:
        """Post `rows` as imports, which settle later (see brevo_sync.importer)."""
        report.bulk_imports += await self.imports.start(rows)

    async def _push_each(self, prepared: list[Prepared], report: DrainReport,
                         deadline: float | None, stop: asyncio.Event | None) -> None:
        refused: list[BrevoAccountError] = []

        async def one(p: Prepared) -> bool:
            async with self._slots:
                if refused or _should_stop(deadline, stop):
                    return False
                try:
                    outcome = await push(self.client, p.item, p.customer, p.action, p.known,
                                         names=self.policy.attributes)
                except BrevoAccountError as exc:
                    refused.append(exc)
                    return False
                except BrevoDeadlineError:
                    # Brevo's budget has no room before the deadline: given back, untried.
                    return False
                await self._record([outcome], report)
                return True

        done = await asyncio.gather(*(one(p) for p in prepared), return_exceptions=True)
        if refused:
            raise refused[0]
        crashed = [(p, r) for p, r in zip(prepared, done, strict=True)
                   if isinstance(r, BaseException)]
        for p, error in crashed:
            log.error("brevo_push_crashed", customer_id=str(p.item.customer_id),
                      error=repr(error))
        await self._back_off_crashed([(p.item, error) for p, error in crashed])
        await self._release_unpushed([p.item.customer_id for p, r in
                                      zip(prepared, done, strict=True) if r is False])

    async def _back_off_crashed(self, crashed: Sequence[tuple[QueueItem, BaseException]]
                                ) -> None:
        """Backed off like a transient failure: an immediate retry would spin on the bug."""
        if crashed:
            async with self.pool.connection() as conn:
                await queue.release_retry(conn, [
                    (item.customer_id, item.version, retry_delay(item.attempts),
                     f"crashed: {error!r}") for item, error in crashed])

    async def _release_unpushed(self, customer_ids: list[UUID]) -> None:
        if customer_ids:
            async with self.pool.connection() as conn:
                await queue.release_unclaimed(conn, customer_ids, worker=self.worker)

    async def _record(self, outcomes: Sequence[Outcome], report: DrainReport) -> None:
        async with self.pool.connection() as conn:
            await record(conn, outcomes, worker=self.worker, source=self.source,
                         run_id=self.run_id, names=self.policy.attributes)
        report.add(outcomes)
        for outcome in outcomes:
            log.info("brevo_push", customer_id=str(outcome.item.customer_id),
                     action=outcome.action, outcome=outcome.result, ms=round(outcome.ms, 1),
                     contact_id=outcome.contact_id, message=outcome.message)
            if self.on_outcome is not None:
                self.on_outcome(outcome)


async def decide_now(pool: Pool, policy: Policy, customer_ids: Sequence[UUID], *,
                     opting_out: frozenset[UUID] = frozenset()) -> list[Prepared]:
    """What the engine would decide for each customer if a sweep queued it now, from the
    database and the mirror alone (no call to Brevo, nothing written): a sweep's plan. A
    deleted customer carries what its sync state remembers, as the sweep's queue row does;
    those in `opting_out` are taken as opted out, as the sweep opts them out first."""
    async with pool.connection() as conn:
        cursor = await conn.execute(q("claimed_customers_with_state"),
                                    {"ids": list(customer_ids)})
        rows = await cursor.fetchall()
    prepared = []
    for row in rows:
        customer = _customer(row)
        if customer is None:
            item = QueueItem(row["queued_id"], 0, True, row["s_email"], row["s_contact_id"])
        else:
            item = QueueItem(row["queued_id"], 0)
            if customer.id in opting_out:
                customer = replace(customer, marketing_opt_in=False)
        known = _known(row)
        action = decide(item, customer, known, _memory(row), policy,
                        shares_email_with=row["shares_email_with"])
        prepared.append(Prepared(item, customer, known, action))
    return prepared


def _split_for_import(prepared: list[Prepared], returned: set[UUID], names: AttributeNames
                      ) -> tuple[list[ImportRow], list[Prepared]]:
    """Creates and plain attribute updates can go in an import; renames, unblocks, clearing a
    phone, removals, anyone the import's list must not take (they left it), and rows an
    import already gave back cannot."""
    rows: list[ImportRow] = []
    rest: list[Prepared] = []
    for p in prepared:
        a = p.action
        full = a if isinstance(a, Create) else (a.recreate if isinstance(a, Update) else None)
        importable = (isinstance(a, Create) and not a.unblock and not a.previous_email) or (
            isinstance(a, Update) and a.new_email is None and not a.unblock
            and a.attributes.get(names.sms) != "" and a.recreate is not None
            and p.known is not None and not p.known.email_blacklisted
        )
        if importable and full is not None and p.customer is not None and full.list_ids \
                and not _clears_a_true(full.attributes, p.known, names) \
                and p.item.customer_id not in returned:
            rows.append(ImportRow(p.item, p.customer, full.email, full.attributes, a.name,
                                  full.note, full.sms_withheld))
        else:
            rest.append(p)
    return rows, rest


def _clears_a_true(attributes: dict[str, Any], known: MirrorContact | None,
                   names: AttributeNames) -> bool:
    """A false in an import does not overwrite a true Brevo holds (§14.4): such a row goes
    one by one, where a false is a false."""
    if known is None:
        return False
    return any(attributes.get(name) is False and held_bool(known.attributes.get(name))
               for name in names.booleans)


def _intent(action: Create | Update | Remove) -> tuple[str | None, str | None]:
    """(email about to be sent, removal about to be made)."""
    if isinstance(action, Remove):
        return None, action.how
    if isinstance(action, Update):
        return action.new_email or action.email, None
    return action.email, None


async def _pause(seconds: float, deadline: float | None, stop: asyncio.Event | None) -> None:
    """Sleep `seconds`, less if the deadline comes first or `stop` is set."""
    if deadline is not None:
        seconds = min(seconds, deadline - time.monotonic())
    if seconds <= 0:
        return
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _should_stop(deadline: float | None, stop: asyncio.Event | None) -> bool:
    return (stop is not None and stop.is_set()) or (
        deadline is not None and time.monotonic() >= deadline)


def _item(row: dict[str, Any]) -> QueueItem:
    return QueueItem(row["customer_id"], row["version"], row["deleted"], row["deleted_email"],
                     row["deleted_contact_id"], row["attempts"])


def _customer(row: dict[str, Any]) -> Customer | None:
    if row["id"] is None:
        return None
    return Customer(row["id"], row["email"], row["first_name"], row["last_name"], row["phone"],
                    bool(row["marketing_opt_in"]), bool(row["used_welcome_offer"]),
                    row["brevo_contact_id"], row["fingerprint"])


def _known(row: dict[str, Any]) -> MirrorContact | None:
    if row["m_id"] is None:
        return None
    return MirrorContact(row["m_id"], row["m_email"], dict(row["m_attributes"] or {}),
                        frozenset(row["m_list_ids"] or ()), bool(row["m_email_blacklisted"]),
                        frozenset(row["m_list_unsubscribed"] or ()))


def _memory(row: dict[str, Any]) -> SyncState | None:
    if row["s_status"] is None:
        return None
    return SyncState(row["s_email"], row["s_contact_id"], row["s_status"],
                      row["s_removed_by_sync"], row["s_pushed_email"])
