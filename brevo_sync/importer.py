"""The bulk path: a backlog goes to Brevo as a few imports, each one a durable job.

    mark the rows "in import" ─▶ POST /contacts/import ─▶ store the process id
        ─▶ look now and then: list contacts (contacts budget), poll /processes rarely
        ─▶ settled: ids written back; rows Brevo did not take go back to be pushed one by one

Brevo queues an import for minutes, so nothing waits on it in line: the rows and the process id
are in the database (migration 009), any process of the deployment takes the next look when it
is due, and a restart simply carries on. The rows keep their lease until the import is settled
and are never posted again while it runs.

Brevo answers an import with a process id, not contact ids: the ids are learnt by listing the
contacts modified since the import began. A contact a row was to create, created since then,
shows that row done before the process is known to be; a row for an existing contact counts
only once the process is known to be completed (something else may have modified it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import structlog

from brevo_sync import queue
from brevo_sync.brevo import BrevoClient, Contact, ImportProcess
from brevo_sync.brevo.bulk import chunk_import_rows
from brevo_sync.brevo.errors import (
    BrevoAccountError,
    BrevoDeadlineError,
    BrevoError,
    BrevoNotFoundError,
    BrevoPermanentError,
    BrevoRateLimitedError,
)
from brevo_sync.brevo.limiter import deadline as brevo_deadline
from brevo_sync.brevo.pages import contact_pages
from brevo_sync.db import Pool, q
from brevo_sync.outcome import Outcome
from brevo_sync.push import retry_delay
from brevo_sync.rows import Customer, MirrorPatch, QueueItem

log = structlog.get_logger("brevo_sync.importer")

# Brevo's clock and ours may differ; list from a little before the import began.
CLOCK_SKEW = timedelta(seconds=10)
LIST_PAGE = 1000
# A look at an open import costs a listing, in the contacts budget (10 a second): the first
# soon (the emulator and small imports are quick), then further apart, up to CHECK_MAX.
FIRST_CHECK_SECONDS = 1.0
CHECK_MAX_SECONDS = 10.0
# /processes is in the "other" budget, 100 calls an hour for the whole account: the deployment
# polls at most once every POLL_SPACING_SECONDS (40 an hour; one poll lists the newest
# processes, so it tells of every open import at once), an import not before it is
# FIRST_POLL_SECONDS old (the listing tells of most imports that went well), and a poll never
# waits more than POLL_WAIT_SECONDS for a budget.
POLL_SPACING_SECONDS = 90.0
FIRST_POLL_SECONDS = 30.0
POLL_WAIT_SECONDS = 5.0
# A POST that got no answer may have been taken. Once this long has passed, Brevo's list of
# processes says whether it was (one "other" call, once an import): a new import process
# nobody knows is adopted, none means the rows were never sent. When that cannot tell, the
# rows are waited for UNKNOWN_GRACE_SECONDS before going one by one.
DISCOVER_AFTER_SECONDS = 60.0
# A poster's lease running out stands for that time, but never less than this since it began.
POSTING_SETTLE_SECONDS = 15.0
UNKNOWN_GRACE_SECONDS = 600.0
PROCESS_PAGE = 50
# The lease of whoever looks at an import, longer than any one look takes; and of the poster
# (after which a process killed mid-POST is taken for dead).
LOOK_LEASE_SECONDS = 300.0
POST_LEASE_SECONDS = 120.0
# Brevo refused an import itself (a 400): no import is tried for this long.
REFUSED_PAUSE_SECONDS = 3600.0

Step = Literal["wait", "done", "one_by_one"]
FAILED_STATUSES = frozenset({"failed", "cancelled", "missing"})
ENDED_STATUSES = FAILED_STATUSES | {"completed"}


@dataclass(frozen=True)
class ImportTiming:
    """How often an open import is looked at; tests shorten these."""

    first_check: float = FIRST_CHECK_SECONDS
    check_max: float = CHECK_MAX_SECONDS
    poll_spacing: float = POLL_SPACING_SECONDS
    first_poll: float = FIRST_POLL_SECONDS
    poll_wait: float = POLL_WAIT_SECONDS
    unknown_grace: float = UNKNOWN_GRACE_SECONDS
    discover_after: float = DISCOVER_AFTER_SECONDS
    posting_settle: float = POSTING_SETTLE_SECONDS


@dataclass(frozen=True)
class ImportRow:
    item: QueueItem
    customer: Customer
    email: str
    attributes: dict[str, Any]
    action: str
    note: str | None = None       # for the history: a phone left out, say
    sms_withheld: bool = False


@dataclass(frozen=True)
class Carried:
    """A row an open import carries, as it was sent."""

    customer_id: UUID
    version: int
    email: str
    action: str
    note: str | None = None
    sms_withheld: bool = False


@dataclass
class Look:
    """What one look at an import found."""

    outcomes: list[Outcome] = field(default_factory=list)
    returned: int = 0          # rows sent back to the queue, to go one by one
    polled: bool = False
    settled: bool = False


# --- pure decisions -------------------------------------------------------------------------

def check_after(checks: int, timing: ImportTiming) -> float:
    """Seconds until the next look at an import already looked at `checks` times."""
    return float(min(timing.check_max, timing.first_check * 2.0 ** min(checks, 16)))


def wants_poll(status: str, process_id: int | None, age: float, timing: ImportTiming) -> bool:
    """Whether this import is worth a /processes call (if the deployment's turn allows)."""
    return process_id is not None and status == "waiting" and age >= timing.first_poll


def next_step(status: str, process_status: str | None, missing: int, age: float,
              timing: ImportTiming) -> Step:
    """What an open import needs after a look: every row found settles it; a process that
    ended (or a POST never answered, after a grace time) sends the rows not found one by one."""
    if missing == 0:
        return "done"
    if process_status == "completed" or process_status in FAILED_STATUSES:
        return "one_by_one"
    if status in ("unknown", "posting") and age >= timing.unknown_grace:
        return "one_by_one"
    return "wait"


def wants_discovery(status: str, tried: bool, age: float, timing: ImportTiming) -> bool:
    """Whether to look for an unanswered import among Brevo's processes: once, and for a POST
    that failed in a live process only when Brevo has had time to register it (a poster's
    lease running out stands for that time)."""
    if tried:
        return False
    if status == "posting":
        return age >= timing.posting_settle
    return status == "unknown" and age >= timing.discover_after


Found = tuple[Literal["adopt", "absent", "unsure"], int | None]


def discovered(processes: Sequence[ImportProcess], since: datetime, known: set[int],
               complete: bool) -> Found:
    """What Brevo's newest processes say of an import posted after `since` without an
    answer: the one import process created since then that no import of ours holds is it;
    none (on a page that reaches back before `since`) means it never reached Brevo; more than
    one, or a page too short to tell, is unsure."""
    imports = [p for p in processes if (p.name or "IMPORTUSER") == "IMPORTUSER"]
    fresh = [p for p in imports if p.created_at is not None and p.created_at >= since
             and p.id not in known]
    if len(fresh) == 1:
        return "adopt", fresh[0].id
    reaches_back = complete or any(p.created_at is not None and p.created_at < since
                                   for p in processes)
    if not fresh and reaches_back:
        return "absent", None
    return "unsure", None


def carries(contact: Contact, action: str, since: datetime, completed: bool) -> bool:
    """Whether a listed contact shows the import's row: once the process is known to be
    completed, any contact modified since the import began; before, only a contact the row
    was to create, created since then."""
    return completed or (action == "create" and contact.created_at >= since)


def import_failure(exc: BrevoError) -> Literal["refused", "unknown", "not_sent"]:
    """What a failed POST /contacts/import means for its rows.

    A 4xx is an answer: Brevo did not take the import (a 400 is about the account or the
    request, never one row, so it is not tried again); 401/402/403 and the like are the
    account's, and the rows simply stay pending. A 429 (or a budget without room before the
    deadline) was refused before Brevo looked. Anything else, a time-out or a 5xx, may have
    been taken all the same."""
    if isinstance(exc, BrevoPermanentError):
        return "refused" if exc.status == 400 else "not_sent"
    if isinstance(exc, BrevoRateLimitedError | BrevoDeadlineError):
        return "not_sent"
    return "unknown"


# --- the jobs -------------------------------------------------------------------------------

LoadCustomers = Callable[[list[UUID]], Awaitable[dict[UUID, Customer | None]]]
Record = Callable[[list[Outcome]], Awaitable[None]]


class Imports:
    """Posting imports and looking at the open ones, for one engine."""

    def __init__(self, pool: Pool, client: BrevoClient, *, worker: str, list_id: int,
                 load: LoadCustomers, timing: ImportTiming | None = None) -> None:
        self.pool = pool
        self.client = client
        self.worker = worker
        self.list_id = list_id
        self.load = load
        self.timing = timing or ImportTiming()

    async def refused_lately(self) -> bool:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(q("imports_refused_lately"),
                                            {"seconds": REFUSED_PAUSE_SECONDS})).fetchone()
        return bool(row and row["refused"])

    async def returned(self, customer_ids: list[UUID]) -> set[UUID]:
        """Of these rows, those back from an import: they go one by one."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(q("import_returned"),
                                             {"customer_ids": customer_ids})).fetchall()
        return {r["customer_id"] for r in rows}

    async def start(self, rows: Sequence[ImportRow]) -> int:
        """Post `rows` as imports of at most ~8 MB each; returns how many were posted. Rows
        whose import Brevo refused go back to the queue, to be pushed one by one."""
        payload = [{"email": r.email, "attributes": r.attributes} for r in rows]
        posted, offset = 0, 0
        for chunk in chunk_import_rows(payload):
            # Chunks keep the rows' order.
            batch = list(rows[offset:offset + len(chunk)])
            offset += len(chunk)
            posted += await self._post(batch) in ("posted", "unknown")
        return posted

    async def _post(self, batch: list[ImportRow]) -> str:
        since = datetime.now(UTC) - CLOCK_SKEW
        async with self.pool.connection() as conn:
            row = await (await conn.execute(q("import_open"), {
                "rows": len(batch), "since": since, "worker": self.worker,
                "lease": POST_LEASE_SECONDS})).fetchone()
            assert row is not None
            import_id = int(row["id"])
            carried = await _carry(conn, import_id, self.worker, [r.item.customer_id
                                                                  for r in batch])
            batch = [r for r in batch if r.item.customer_id in carried]
            await conn.execute(q("import_rows_add"), {
                "import_id": import_id,
                "customer_ids": [r.item.customer_id for r in batch],
                "versions": [r.item.version for r in batch],
                "emails": [r.email for r in batch],
                "actions": [r.action for r in batch],
                "notes": [r.note for r in batch],
                "sms_withheld": [r.sms_withheld for r in batch]})
        if not batch:
            await self._finish(import_id, "done", None, error="no rows left to carry")
            return "not_sent"
        try:
            # Rows carry every synced attribute, so an empty name means "clear it" (a removed
            # phone is absent, not empty, and goes one by one).
            process_id = await self.client.import_contacts(
                [{"email": r.email, "attributes": r.attributes} for r in batch],
                list_ids=[self.list_id], empty_attributes=True)
        except BrevoError as exc:
            outcome = await self._not_posted(import_id, batch, exc)
            if isinstance(exc, BrevoAccountError):
                raise  # its rows are back, untouched: the account's refusal pauses the caller
            return outcome
        async with self.pool.connection() as conn:
            await conn.execute(q("import_posted"), {
                "id": import_id, "process_id": process_id,
                "check_after": check_after(0, self.timing)})
        log.info("brevo_import_posted", import_id=import_id, process_id=process_id,
                 rows=len(batch))
        return "posted"

    async def _not_posted(self, import_id: int, batch: list[ImportRow], exc: BrevoError) -> str:
        kind = import_failure(exc)
        if kind == "unknown":
            log.warning("brevo_import_unanswered", import_id=import_id, rows=len(batch),
                        error=str(exc))
            async with self.pool.connection() as conn:
                await conn.execute(q("import_unknown"), {
                    "id": import_id, "error": str(exc),
                    "check_after": check_after(0, self.timing)})
            return "unknown"
        ids = [r.item.customer_id for r in batch]
        if kind == "refused":
            # Recorded once; no import is tried for a while (see imports_refused_lately).
            log.error("brevo_import_refused", import_id=import_id, rows=len(batch),
                      error=str(exc))
            await self._release(import_id, ids, one_by_one=True)
        else:
            # Not taken: the rows may go in a later import, after a backoff, not at once.
            log.warning("brevo_import_not_sent", import_id=import_id, error=str(exc))
            await self._release(import_id, ids, one_by_one=False,
                                delay=retry_delay(max(r.item.attempts for r in batch)))
        await self._finish(import_id, "refused" if kind == "refused" else "failed", None,
                           error=str(exc))
        return kind

    # --- looking at open imports ------------------------------------------------------------

    async def next_look_in(self) -> float | None:
        """Seconds until an open import is due for a look; None when no import is open."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(q("imports_next_check"))).fetchone()
        if row is None or row["wait"] is None:
            return None
        return max(0.0, float(row["wait"]))

    async def look_at_due(self, record: Record, looked: set[int]) -> Look | None:
        """Take the next open import that is due, other than those `looked` at already, and
        look at it, `record`ing the outcomes of the rows found in Brevo; None when none is
        due. Its id is added to `looked`."""
        async with self.pool.connection() as conn:
            job = await (await conn.execute(q("import_claim_due"), {
                "worker": self.worker, "lease": LOOK_LEASE_SECONDS,
                "looked": sorted(looked)})).fetchone()
        if job is None:
            return None
        looked.add(int(job["id"]))
        try:
            return await self._look(job, record)
        except Exception:
            # Let someone look again soon rather than after the lease.
            async with self.pool.connection() as conn:
                await conn.execute(q("import_checked"), {
                    "id": job["id"], "process_status": None, "polled": 0,
                    "check_after": check_after(int(job["checks"]), self.timing)})
            raise

    async def _look(self, job: dict[str, Any], record: Record) -> Look:
        import_id = int(job["id"])
        status, age = str(job["status"]), float(job["age"])
        look = Look()
        if wants_discovery(status, int(job["polls"]) > 0, age, self.timing):
            discovery = await self._discover(import_id, job["since"])
            if discovery[0] == "adopt":
                status, job = "waiting", {**job, "process_id": discovery[1]}
            elif discovery[0] == "absent":
                return await self._never_sent(import_id)
        process_status = job["process_status"]
        if process_status not in ENDED_STATUSES \
                and wants_poll(status, job["process_id"], age, self.timing) \
                and await self._poll_turn():
            look.polled = True
            process_status = await self._poll(int(job["process_id"])) or process_status
        async with self.pool.connection() as conn:
            carried = [Carried(r["customer_id"], int(r["version"]), r["email"], r["action"],
                               r["note"], bool(r["sms_withheld"]))
                       for r in await (await conn.execute(q("import_rows_of"),
                                                          {"import_id": import_id})).fetchall()]
        step: Step = "wait"
        try:
            found = await self._find(carried, job["since"], process_status == "completed")
        except BrevoError as exc:
            # Nothing is known of the rows then, whatever the process says: look again.
            log.info("brevo_import_listing_failed", import_id=import_id, error=str(exc))
            found = {}
        else:
            step = next_step(status, process_status, len(carried) - len(found), age,
                             self.timing)
        if step == "wait":
            # Rows found meanwhile stay with the import: until it has ended, Brevo may still
            # apply its copy of a row over a later push (a row found early can be another
            # writer's, e.g. a push left in doubt by a killed process).
            async with self.pool.connection() as conn:
                await conn.execute(q("import_checked"), {
                    "id": import_id, "process_status": process_status,
                    "polled": int(look.polled),
                    "check_after": check_after(int(job["checks"]) + 1, self.timing)})
            return look
        look.outcomes = await self._outcomes(carried, found)
        # Recorded before the rows leave the import: a crash in between finds them again.
        await record(look.outcomes)
        rest = [c.customer_id for c in carried if c.customer_id not in found]
        look.returned = len(rest)
        look.settled = True
        # Back to the queue before the import is closed: no row stays with a settled import.
        await self._release(import_id, rest, one_by_one=True)
        await self._finish(import_id, "done" if process_status == "completed" or not rest
                           else "failed", process_status, checked=1, polled=int(look.polled))
        log.info("brevo_import_settled", import_id=import_id, process_status=process_status,
                 imported=len(found), one_by_one=len(rest))
        return look

    async def _discover(self, import_id: int, since: datetime) -> Found:
        """Look for an unanswered import among Brevo's newest processes (once an import)."""
        async with self.pool.connection() as conn:
            await conn.execute(q("import_discovering"), {"id": import_id})
            known = {int(r["process_id"]) for r in await (await conn.execute(
                q("import_known_processes"), {"since": since})).fetchall()}
        try:
            with brevo_deadline(time.monotonic() + self.timing.poll_wait):
                processes = await self.client.list_processes(limit=PROCESS_PAGE)
        except BrevoError as exc:
            log.info("brevo_processes_list_failed", import_id=import_id, error=str(exc))
            return "unsure", None
        found = discovered(processes, since, known, complete=len(processes) < PROCESS_PAGE)
        log.info("brevo_import_discovery", import_id=import_id, found=found[0],
                 process_id=found[1])
        if found[0] == "adopt":
            async with self.pool.connection() as conn:
                await conn.execute(q("import_adopted"), {"id": import_id,
                                                         "process_id": found[1]})
        return found

    async def _never_sent(self, import_id: int) -> Look:
        """Brevo never got the import: its rows go back to be imported again, at once."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(q("import_rows_of"),
                                             {"import_id": import_id})).fetchall()
        await self._release(import_id, [r["customer_id"] for r in rows], one_by_one=False)
        await self._finish(import_id, "failed", None, error="the import never reached Brevo",
                           checked=1)
        return Look(returned=len(rows), settled=True)

    async def _poll_turn(self) -> bool:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(q("process_poll_turn"),
                                            {"spacing": self.timing.poll_spacing})).fetchone()
        return row is not None

    async def _poll(self, process_id: int) -> str | None:
        """Brevo's status of the process ("missing" when Brevo does not know it), or None
        when the call could not be made now. One call: the newest processes, whose statuses
        are kept for every open import among them, or the process itself when it is older."""
        try:
            with brevo_deadline(time.monotonic() + self.timing.poll_wait):
                page = await self.client.list_processes(limit=PROCESS_PAGE)
                await self._keep_statuses(page)
                process = next((p for p in page if p.id == process_id), None)
                if process is None:
                    process = await self.client.get_process(process_id, retry=False)
        except BrevoNotFoundError:
            return "missing"
        except BrevoError as exc:
            log.info("brevo_process_poll_failed", process_id=process_id, error=str(exc))
            return None
        if process.status in FAILED_STATUSES:
            log.warning("brevo_import_ended", process_id=process_id, status=process.status,
                        error=process.error)
        return process.status

    async def _keep_statuses(self, page: Sequence[ImportProcess]) -> None:
        """What one look at Brevo's processes says of the other open imports."""
        if page:
            async with self.pool.connection() as conn:
                await conn.execute(q("import_statuses"), {
                    "process_ids": [p.id for p in page], "statuses": [p.status for p in page]})

    async def _find(self, carried: list[Carried], since: datetime, completed: bool
                    ) -> dict[UUID, Contact]:
        wanted = {c.email: c for c in carried}
        found: dict[UUID, Contact] = {}
        if not wanted:
            return found
        async for contact in _modified_newest_first(self.client, since):
            row = wanted.get(contact.email or "")
            if row is None or row.customer_id in found or not carries(
                    contact, row.action, since, completed):
                continue
            found[row.customer_id] = contact
            if len(found) == len(wanted):
                break
        return found

    async def _outcomes(self, carried: list[Carried], found: dict[UUID, Contact]
                        ) -> list[Outcome]:
        if not found:
            return []
        customers = await self.load(list(found))
        outcomes = []
        for row in carried:
            contact = found.get(row.customer_id)
            if contact is None:
                continue
            mirror = MirrorPatch(contact.id, contact.email, dict(contact.attributes),
                               tuple(contact.list_ids), contact.email_blacklisted)
            outcomes.append(Outcome(QueueItem(row.customer_id, row.version),
                                    customers.get(row.customer_id), row.action, "ok",
                                    contact_id=contact.id, mirror=mirror,
                                    message="; ".join(filter(None, ("bulk import", row.note))),
                                    sms_withheld=row.sms_withheld))
        return outcomes

    async def _release(self, import_id: int, customer_ids: list[UUID], *, one_by_one: bool,
                       delay: float = 0.0) -> None:
        """Give the import's rows back to the queue, and any other row it still holds:
        marked to go one by one, or plain (to be imported again) after `delay` seconds."""
        params = {"import_id": import_id, "one_by_one": one_by_one, "delay": delay}
        async with self.pool.connection() as conn:
            held = await (await conn.execute(q("import_held_rows"), params)).fetchall()
            customer_ids = list(dict.fromkeys([*customer_ids,
                                               *(r["customer_id"] for r in held)]))
            if not customer_ids:
                return
            await queue.each_free_row(
                conn, customer_ids, batch=q("import_release_batch"), one=q("import_release"),
                batch_params=lambda ids: {**params, "customer_ids": list(ids)},
                one_params=lambda cid: {**params, "customer_id": cid}, key=lambda cid: cid)

    async def _finish(self, import_id: int, status: str, process_status: str | None, *,
                      error: str | None = None, checked: int = 0, polled: int = 0) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(q("import_finish"), {
                "id": import_id, "status": status, "process_status": process_status,
                "error": error, "checked": checked, "polled": polled})
            await conn.execute(q("import_drop_rows"), {"import_id": import_id})


async def _carry(conn: Any, import_id: int, worker: str, customer_ids: list[UUID]
                 ) -> set[UUID]:
    """Move this worker's leased rows into the import; returns those moved. Rows the
    application holds right now are done one statement each, after the others (the way of
    brevo_sync.queue.each_free_row, written out: the batch says which rows it moved)."""
    carried: set[UUID] = set()
    looked: set[UUID] = set()
    if len(customer_ids) > 1:
        rows = await (await conn.execute(q("import_carry_batch"), {
            "customer_ids": customer_ids, "import_ids": [import_id],
            "workers": [worker]})).fetchall()
        looked = {r["customer_id"] for r in rows}
        carried = {r["customer_id"] for r in rows if r["carried"]}
    for customer_id in customer_ids:
        if customer_id in looked:
            continue
        row = await (await conn.execute(q("import_carry"), {
            "customer_id": customer_id, "import_id": import_id,
            "worker": worker})).fetchone()
        if row is not None:
            carried.add(customer_id)
    return carried


async def _modified_newest_first(client: BrevoClient, since: datetime) -> AsyncIterator[Contact]:
    """Contacts modified since `since`, newest-created first. A contact created meanwhile
    shifts the pages by one (a duplicate, skipped); one deleted meanwhile can hide one, which
    is then found at the next look or pushed on its own."""
    async for page in contact_pages(client, LIST_PAGE, modified_since=since, sort="desc"):
        for contact in page.items:
            yield contact
