"""Checking stored contact ids before the engine writes by them, and forgetting stale ones.

What a contact id names is learnt from the mirror, or from Brevo (GET /contacts/{id}) when
the mirror does not know the contact; what Brevo answers goes into the mirror, so the next
check is free. A forgotten id is recorded in the sync history with the reason, and the
customer is matched by email from then on (see identity.py for the rule).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from psycopg import AsyncConnection

from brevo_sync import queue
from brevo_sync.brevo import BrevoClient, BrevoError, Contact
from brevo_sync.brevo.errors import BrevoAccountError
from brevo_sync.db import Pool, q
from brevo_sync.identity import (
    FORGET_ACTION,
    Claim,
    Holder,
    holder_in_mirror,
    stale_reason,
    taken_reason,
)
from brevo_sync.mirror import upsert_contacts
from brevo_sync.rows import MirrorContact

log = structlog.get_logger("brevo_sync.identity")


@dataclass(frozen=True)
class Forget:
    customer_id: UUID
    email: str | None
    contact_id: int
    reason: str


# Contacts looked up in Brevo for one batch: about 100 s at Brevo's 10 calls/s, well inside
# the shortest lease that can carry so many customers. The rest wait for the next round.
MAX_LOOKUPS = 1000


@dataclass
class Checked:
    forgotten: list[Forget] = field(default_factory=list)
    failed: dict[UUID, BrevoError] = field(default_factory=dict)  # could not be checked now
    deferred: set[UUID] = field(default_factory=set)  # past MAX_LOOKUPS: for the next round
    asked: int = 0                   # contacts looked up in Brevo (and now in the mirror)


async def check_stored_ids(pool: Pool, client: BrevoClient,
                           claims: Sequence[tuple[Claim, MirrorContact | None]], *,
                           slots: asyncio.Semaphore, source: str, run_id: int | None = None,
                           max_lookups: int = MAX_LOOKUPS) -> Checked:
    """Check every stored id of `claims` (each with the mirror's contact for it) and forget
    those that name someone else's contact or no contact at all."""
    checked = Checked()
    unknown: set[int] = set()
    for claim, known in claims:
        asking = {cid for cid in claim.contact_ids if holder_in_mirror(cid, known) is None}
        if len(unknown | asking) > max_lookups:
            checked.deferred.add(claim.customer_id)
        else:
            unknown |= asking
    answers = await _ask_brevo(pool, client, sorted(unknown), slots) if unknown else {}
    checked.asked = len(unknown)
    for claim, known in claims:
        if claim.customer_id in checked.deferred:
            continue
        holders = {cid: holder_in_mirror(cid, known) or answers[cid] for cid in claim.contact_ids}
        errors = [h for h in holders.values() if isinstance(h, BrevoError)]
        if errors:
            checked.failed[claim.customer_id] = errors[0]
            continue
        for cid, holder in holders.items():
            assert isinstance(holder, Holder)
            reason = stale_reason(cid, holder, claim.emails)
            if reason is not None:
                checked.forgotten.append(Forget(claim.customer_id, claim.email, cid, reason))
    if checked.forgotten:
        async with pool.connection() as conn:
            await forget_ids(conn, checked.forgotten, source=source, run_id=run_id)
    return checked


async def _ask_brevo(pool: Pool, client: BrevoClient, contact_ids: list[int],
                     slots: asyncio.Semaphore) -> dict[int, Holder | BrevoError]:
    fetched_at = datetime.now(UTC)

    async def one(contact_id: int) -> Contact | None:
        async with slots:
            return await client.get_contact_by_id(contact_id)

    results = await asyncio.gather(*(one(cid) for cid in contact_ids), return_exceptions=True)
    answers: dict[int, Holder | BrevoError] = {}
    found: list[Contact] = []
    for cid, result in zip(contact_ids, results, strict=True):
        if isinstance(result, BrevoAccountError):
            raise result  # the account, not this id: the caller pauses
        if isinstance(result, BrevoError):
            answers[cid] = result
        elif isinstance(result, BaseException):
            raise result
        elif result is None:
            answers[cid] = Holder(False)
        else:
            answers[cid] = Holder(True, result.email)
            found.append(result)
    if found:
        await upsert_contacts(pool, found, fetched_at=fetched_at)
    gone = [cid for cid, a in answers.items() if isinstance(a, Holder) and not a.found]
    if gone:
        async with pool.connection() as conn:
            await conn.execute(q("mirror_forget"), {"ids": gone})
    return answers


async def forget_ids(conn: AsyncConnection[Any], forgets: Sequence[Forget], *, source: str,
                     run_id: int | None) -> None:
    """Forget each (customer, contact id) wherever it is stored, and say why in the history."""
    if not forgets:
        return
    for f in forgets:
        params = {"customer_id": f.customer_id, "contact_id": f.contact_id}
        for name in ("forget_customer_contact_id", "forget_state_contact_id",
                     "forget_queued_contact_id"):
            await conn.execute(q(name), params)
        log.warning("brevo_contact_id_forgotten", customer_id=str(f.customer_id),
                    contact_id=f.contact_id, reason=f.reason)
    await conn.execute(q("add_history"), {
        "source": source, "run_id": run_id,
        "customer_ids": [f.customer_id for f in forgets],
        "emails": [f.email for f in forgets],
        "actions": [FORGET_ACTION] * len(forgets),
        "outcomes": ["ok"] * len(forgets),
        "contact_ids": [f.contact_id for f in forgets],
        "messages": [f.reason for f in forgets],
    })


async def release_taken_ids(conn: AsyncConnection[Any], pairs: Sequence[tuple[UUID, int]], *,
                            source: str, run_id: int | None) -> None:
    """Before `pairs` (customer, contact id) are stored: any other customer holding one of
    those ids holds it wrongly (the contact holds this customer's email now). Theirs is
    forgotten and they are queued, to be matched by email. No two customers hold one id."""
    if not pairs:
        return
    rows = await (await conn.execute(q("contact_id_holders"), {
        "customer_ids": [p[0] for p in pairs], "contact_ids": [p[1] for p in pairs],
    })).fetchall()
    if not rows:
        return
    await forget_ids(conn, [
        Forget(r["customer_id"], r["email"], r["contact_id"],
               taken_reason(r["contact_id"], r["new_holder"])) for r in rows
    ], source=source, run_id=run_id)
    live = [r["customer_id"] for r in rows if r["still_exists"]]
    if live:
        await queue.enqueue(conn, live, "identity")
