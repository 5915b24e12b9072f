"""The result of pushing one customer, and writing it down: state, history, mirror, queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection

from brevo_sync import queue
from brevo_sync.attributes import DEFAULT_NAMES, AttributeNames
from brevo_sync.db import q
from brevo_sync.rows import Customer, MirrorPatch, QueueItem
from brevo_sync.stale_ids import release_taken_ids

Result = Literal["ok", "skipped", "error", "retry"]


@dataclass
class Outcome:
    item: QueueItem
    customer: Customer | None
    action: str
    result: Result
    contact_id: int | None = None
    message: str | None = None
    error_code: str | None = None
    status: str = "synced"            # sync_state.status: synced | removed | error | skipped
    removed_by_sync: str | None = None
    mirror: MirrorPatch | None = None
    forget_contact: int | None = None
    retry_delay: float = 0.0
    sms_withheld: bool = False        # pushed without SMS: Brevo holds it on another contact
    ms: float = 0.0

    @property
    def email(self) -> str | None:
        if self.customer is not None and self.customer.email is not None:
            return self.customer.email
        return self.item.deleted_email

    def as_json(self) -> dict[str, Any]:
        """The per-customer shape of the admin API's results."""
        return {
            "customerId": str(self.item.customer_id),
            "email": self.email,
            "success": self.result in ("ok", "skipped"),
            "brevoId": self.contact_id,
            "action": self.action,
            "outcome": self.result,
            "message": self.message,
        }


async def record(conn: AsyncConnection[Any], outcomes: Sequence[Outcome], *, worker: str,
                 source: str, run_id: int | None = None,
                 names: AttributeNames = DEFAULT_NAMES) -> None:
    """Write the outcomes down, queue last: a crash before the end redoes a push, never loses one.

    `conn` is in autocommit. On the application's table and on the queue (which its trigger
    writes) the sync never waits on a lock while holding others (queue.each_free_row), so it
    can never deadlock with, or fail, the application's writes.
    """
    if not outcomes:
        return
    final = [o for o in outcomes if o.result != "retry"]
    await release_taken_ids(conn, [(o.item.customer_id, o.contact_id) for o in final
                                   if o.contact_id is not None and o.result in ("ok", "skipped")],
                            source=source, run_id=run_id)
    if final:
        # First: its unique index refuses a contact id another customer took meanwhile,
        # before the id is written on the customer's row.
        await _save_state(conn, final)
    written = [o for o in outcomes if o.customer is not None and o.contact_id is not None
               and o.result in ("ok", "skipped") and o.customer.brevo_contact_id != o.contact_id]
    await queue.each_free_row(
        conn, [{"customer_id": o.item.customer_id, "contact_id": o.contact_id} for o in written],
        batch=q("write_back_batch"), one=q("write_back"),
        batch_params=lambda rs: {"customer_ids": [r["customer_id"] for r in rs],
                                 "contact_ids": [r["contact_id"] for r in rs]},
        one_params=lambda r: r, key=lambda r: r["customer_id"])
    await _save_mirror(conn, outcomes, names)
    await conn.execute(q("add_history"), {
        "source": source, "run_id": run_id,
        "customer_ids": [o.item.customer_id for o in outcomes],
        "emails": [o.email for o in outcomes],
        "actions": [o.action for o in outcomes],
        "outcomes": [o.result for o in outcomes],
        "contact_ids": [o.contact_id for o in outcomes],
        "messages": [o.message for o in outcomes],
    })
    await queue.release_done(conn, [(o.item.customer_id, o.item.version) for o in final])
    await queue.release_retry(conn, [
        (o.item.customer_id, o.item.version, o.retry_delay, o.message)
        for o in outcomes if o.result == "retry"])


async def _save_state(conn: AsyncConnection[Any], outcomes: Sequence[Outcome]) -> None:
    await conn.execute(q("save_state"), {
        "customer_ids": [o.item.customer_id for o in outcomes],
        "emails": [_lower(o.email) for o in outcomes],
        "contact_ids": [o.contact_id for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "errors": [o.message if o.status == "error" else None for o in outcomes],
        "error_codes": [o.error_code if o.status == "error" else None for o in outcomes],
        "fingerprints": [o.customer.fingerprint if o.customer and o.status == "error" else None
                         for o in outcomes],
        "removed": [o.removed_by_sync for o in outcomes],
        "sms_withheld": [o.customer.fingerprint if o.customer and o.sms_withheld else None
                         for o in outcomes],
    })


async def _save_mirror(conn: AsyncConnection[Any], outcomes: Sequence[Outcome],
                       names: AttributeNames) -> None:
    gone = [o.forget_contact for o in outcomes if o.forget_contact is not None]
    if gone:
        await conn.execute(q("mirror_forget"), {"ids": gone})
    rows = {o.mirror.id: o.mirror for o in outcomes if o.mirror is not None}
    if not rows:
        return
    mirrors = sorted(rows.values(), key=lambda m: m.id)
    await conn.execute(q("forget_contact_emails"), {
        "emails": [_lower(m.email) for m in mirrors if m.email],
        "ids": [m.id for m in mirrors],
    })
    await conn.execute(q("mirror_push"), {
        "ids": [m.id for m in mirrors],
        "emails": [_lower(m.email) for m in mirrors],
        "attributes": [json.dumps(m.attributes) for m in mirrors],
        "list_ids": [json.dumps(list(m.list_ids)) for m in mirrors],
        "blacklisted": [m.email_blacklisted for m in mirrors],
        **names.sql_params(),
    })
    learnt = [m for m in mirrors if m.list_unsubscribed is not None]
    if learnt:
        await conn.execute(q("mirror_list_unsubscribed"), {
            "ids": [m.id for m in learnt],
            "list_ids": ["{" + ",".join(str(i) for i in m.list_unsubscribed or ()) + "}"
                         for m in learnt],
        })


def _lower(email: str | None) -> str | None:
    return email.strip().lower() if email else None
