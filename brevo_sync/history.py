"""The sync history (brevo_sync.history, the audit log) as the admin page reads it: newest
first, filtered by customer (id or email), outcome, action and source.

What is really written (migrations/002's column comments are older and cannot be edited, an
applied migration being checksummed): history.outcome is one of OUTCOMES, 'retry' included;
history.action one of ACTIONS (plus 'check_id' for an identity check that failed);
brevo_sync.runs.kind is only ever 'reconcile' (never 'sync_all' nor 'drain'), its status
running | done | partial | failed | refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from brevo_sync.db import compose, q, scalar
from brevo_sync.params import MAX_PAGE, ParamError, iso, parse_int, text_param

PER_PAGE = 50
COUNT_CAP = 10_000
OUTCOMES = ("ok", "skipped", "error", "retry")
SOURCES = ("listener", "cron", "admin", "cli", "webhook")
ACTIONS = ("create", "update", "remove", "unsubscribe", "none", "reject", "forget_id")
_ACTION = re.compile(r"^[a-z_]{1,32}$")


@dataclass(frozen=True)
class HistoryQuery:
    customer_id: UUID | None = None
    email: str | None = None
    outcome: str | None = None
    action: str | None = None
    source: str | None = None
    page: int = 1
    per_page: int = PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class HistoryPage:
    query: HistoryQuery
    total: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def capped(self) -> bool:
        return self.total >= COUNT_CAP

    def as_json(self) -> dict[str, Any]:
        return {
            "page": self.query.page,
            "per_page": self.query.per_page,
            "total": self.total,
            "total_capped": self.capped,
            "rows": self.rows,
        }


def parse_history_query(params: Mapping[str, str]) -> HistoryQuery:
    customer = text_param(params.get("customer"), "customer")
    customer_id, email = None, None
    if customer:
        try:
            customer_id = UUID(customer)
        except ValueError:
            if "@" not in customer:
                raise ParamError("customer must be a customer id or an email address") from None
            email = customer.lower()
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise ParamError(f"outcome must be one of {', '.join(OUTCOMES)}")
    action = params.get("action") or None
    if action is not None and not _ACTION.match(action):
        raise ParamError("action must be a word such as create, update or remove")
    source = params.get("source") or None
    if source is not None and source not in SOURCES:
        raise ParamError(f"source must be one of {', '.join(SOURCES)}")
    return HistoryQuery(
        customer_id=customer_id,
        email=email,
        outcome=outcome,
        action=action,
        source=source,
        page=parse_int(params, "page", 1, 1, MAX_PAGE),
    )


async def read_history(conn: AsyncConnection[Any], query: HistoryQuery) -> HistoryPage:
    clauses, params = [], {}
    for name, value, clause in (
        ("customer_id", query.customer_id, "history_where_customer"),
        ("email", query.email, "history_where_email"),
        ("outcome", query.outcome, "history_where_outcome"),
        ("action", query.action, "history_where_action"),
        ("source", query.source, "history_where_source"),
    ):
        if value is not None:
            clauses.append(q(clause))
            params[name] = value
    where = " AND ".join(clauses) or "true"
    total = await scalar(conn, compose("history_count", where=where), {**params, "cap": COUNT_CAP})
    cursor = await conn.execute(
        compose("history_rows", where=where),
        {**params, "offset": query.offset, "limit": query.per_page},
    )
    rows = [_history_row(r) for r in await cursor.fetchall()]
    return HistoryPage(query, total, rows)


def _history_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": iso(row["at"]),
        "customer_id": str(row["customer_id"]) if row["customer_id"] else None,
        "email": row["email"],
        "action": row["action"],
        "outcome": row["outcome"],
        "brevo_contact_id": row["brevo_contact_id"],
        "message": row["message"],
        "source": row["source"],
        "run_id": row["run_id"],
    }
