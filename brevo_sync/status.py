"""Totals for `brevo-sync status` and the health of the sync."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from brevo_sync.db import q
from brevo_sync.pause import Refusal, read_refusal


@dataclass(frozen=True)
class Status:
    customers: int
    opted_in: int
    in_brevo: int
    pending: int
    failed: int
    oldest_pending_seconds: float | None
    mirrored_contacts: int
    last_reconcile_at: datetime | None
    paused: Refusal | None = None       # Brevo refuses the account: pushing is paused

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_reconcile_at"] = (self.last_reconcile_at.isoformat()
                                     if self.last_reconcile_at else None)
        data["paused"] = self.paused.as_json() if self.paused else None
        return data

    def as_text(self) -> str:
        oldest = ("-" if self.oldest_pending_seconds is None
                  else f"{self.oldest_pending_seconds:.1f} s")
        lines = [
            ("customers", str(self.customers)),
            ("opted in", str(self.opted_in)),
            ("in Brevo", str(self.in_brevo)),
            ("pending", str(self.pending)),
            ("failed", str(self.failed)),
            ("oldest pending", oldest),
            ("mirrored contacts", str(self.mirrored_contacts)),
            ("last reconcile", self.last_reconcile_at.isoformat(timespec="seconds")
             if self.last_reconcile_at else "never"),
        ]
        if self.paused is not None:
            lines.append(("PAUSED", self.paused.message))
        return "\n".join(f"{name:<18} {value}" for name, value in lines)


async def read_status(conn: AsyncConnection[Any]) -> Status:
    row = await (await conn.execute(q("status"))).fetchone()
    assert row is not None
    return Status(**row, paused=await read_refusal(conn))
