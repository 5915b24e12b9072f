"""Brevo -> Neon: a contact blocklisted in Brevo, or that left the sync's list there, opts its
customer out of marketing.

Brevo blocklists a contact when it unsubscribes, complains or hard-bounces; where the account
has per-list unsubscription, a person can instead leave one list (`listUnsubscribed`). Unless
the sync blocklisted it itself (an opt-out it pushed), the customer gets
`marketing_opt_in = false`, logged in history. The sync never adds anyone back to a list they
left, never unblocks a contact it did not blocklist, nor one whose person unsubscribed
themselves (decide.py, push.py), so the customer is not re-subscribed by any later push; while
Brevo keeps the contact blocklisted (or out of the list), a customer opted in again is opted
out again by the next sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import structlog

from brevo_sync.db import Pool, q
from brevo_sync.queue import each_free_row

log = structlog.get_logger("brevo_sync.unsubscribes")

BATCH = 50
MESSAGE = "blocklisted in Brevo (unsubscribe, complaint or bounce): marketing_opt_in set to false"
LEFT_LIST = "unsubscribed from list {list_id} in Brevo: marketing_opt_in set to false"
# The customer, the contact Brevo blocklisted (or that left the list), and why.
Unsubscribe = tuple[UUID, int, str]


async def find_unsubscribes(pool: Pool, list_id: int | None = None) -> list[Unsubscribe]:
    """Opted-in customers whose contact Brevo blocklisted, the sync not having done it, or
    whose contact left list `list_id` (the sync's BREVO_LIST_ID)."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(q("unsubscribe_candidates"),
                                         {"list_id": list_id})).fetchall()
    return [(row["customer_id"], row["contact_id"],
             LEFT_LIST.format(list_id=list_id) if row["left_list"] else MESSAGE)
            for row in rows]


async def reflect_unsubscribes(pool: Pool, *, source: str, run_id: int | None = None,
                               found: Sequence[Unsubscribe] | None = None,
                               list_id: int | None = None) -> int:
    """Opt out the customers Brevo has unsubscribed (`found`, or looked up now); returns how
    many were changed."""
    pairs = list(found) if found is not None else await find_unsubscribes(pool, list_id)
    if not pairs:
        return 0
    async with pool.connection() as conn:

        def params(batch: Sequence[Unsubscribe]) -> dict[str, Any]:
            return {"ids": [p[0] for p in batch], "contact_ids": [p[1] for p in batch],
                    "messages": [p[2] for p in batch], "source": source, "run_id": run_id}

        changed = await each_free_row(conn, pairs, batch=q("reflect_unsubscribes"),
                                      one=q("reflect_unsubscribes"), batch_params=params,
                                      one_params=lambda pair: params([pair]),
                                      key=lambda pair: pair[0], size=BATCH)
    log.info("brevo_unsubscribes", changed=changed, source=source)
    return changed
