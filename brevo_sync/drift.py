"""Drift: where Brevo (as the mirror shows it) differs from what the sync would push.

Found in SQL, set-based (brevo_sync/sql/reconcile.sql `drift_rows`), queued without holding
up the application (brevo_sync.queue).
The safeguard that refuses a mass removal is a pure function of the drift's counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from brevo_sync import queue
from brevo_sync.db import Pool, q
from brevo_sync.decide import Policy
from brevo_sync.differs import sweep_phone_differs

# Kinds of drift, in the order they are reported.
MISSING = "missing"            # opted in, no contact in Brevo
ATTRIBUTES = "attributes"      # opted in, email or attributes differ
LIST = "list"                  # opted in, not in BREVO_LIST_ID
OPTED_OUT = "opted_out"        # opted out, still subscribed
DELETED = "deleted"            # deleted, still subscribed
KINDS = (MISSING, ATTRIBUTES, LIST, OPTED_OUT, DELETED)
REMOVALS = (OPTED_OUT, DELETED)
PHONE = "phone"                # drift_rows: a phone only differs.py can settle

# Fewer removals than this never trip the safeguard, so that a small list can still lose a
# customer or two: the guard is there for mass removals, not for the tenth customer of ten.
GUARD_FLOOR = 5


@dataclass
class Drift:
    ids: dict[str, list[UUID]] = field(default_factory=dict)
    opted_in: int = 0
    synced_contacts: int = 0
    # Of the ATTRIBUTES kind, the customers whose contact's email changes (a rename).
    renamed: list[UUID] = field(default_factory=list)
    # The removal the policy makes, by kind (OPTED_OUT, DELETED): blocklist, unlist or delete.
    how: dict[str, str] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return len(self.ids.get(kind, ()))

    @property
    def removals(self) -> int:
        return sum(self.count(kind) for kind in REMOVALS)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.ids.values())

    def counts(self) -> dict[str, int]:
        return {kind: self.count(kind) for kind in KINDS}


def guard_refusal(removals: int, synced_contacts: int, share: float) -> str | None:
    """Why a sweep must not act, or None: it would remove or blocklist more than `share` of
    the contacts the sync keeps in Brevo."""
    if removals < GUARD_FLOOR or removals <= share * synced_contacts:
        return None
    return (f"refused: the sweep would remove or blocklist {removals} of {synced_contacts}"
            f" synced contacts, more than the {share:.0%} allowed by BREVO_REMOVAL_GUARD_SHARE;"
            " check for a mass opt-out or deletion, then raise the share for one run if it"
            " is intended")


def unsubscribe_refusal(unsubscribes: int, synced_contacts: int, share: float) -> str | None:
    """Why Brevo's blocklist must not be copied into the customers table this time, or None.

    The table is the source of truth: a Brevo-side accident (a list imported as blocklisted, a
    bulk edit) must not opt everyone out in it. Same share and floor as for removals.
    """
    if guard_refusal(unsubscribes, synced_contacts, share) is None:
        return None
    return (f"refused: Brevo shows {unsubscribes} of {synced_contacts} synced contacts newly"
            f" blocklisted, more than the {share:.0%} allowed by BREVO_REMOVAL_GUARD_SHARE;"
            " opting them all out here looks like an accident in Brevo. Check Brevo's"
            " blocklist, then raise the share for one run if it is intended")


async def sweep_totals(pool: Pool) -> tuple[int, int]:
    """Opted-in customers, and customers the sync keeps in Brevo (status synced)."""
    async with pool.connection() as conn:
        row = await (await conn.execute(q("sweep_totals"))).fetchone()
    return (int(row["opted_in"]), int(row["synced_contacts"])) if row else (0, 0)


def policy_params(policy: Policy) -> dict[str, Any]:
    return {"list_id": policy.list_id, "opt_out_action": policy.opt_out_action,
            "delete_action": policy.delete_action}


def drift_query() -> str:
    return q("drift_by_action").replace("/* drift_rows */", q("drift_rows").rstrip().rstrip(";"))


async def find_drift(pool: Pool, policy: Policy, opting_out: Sequence[UUID] = ()) -> Drift:
    """The drift as the sweep will act on it: the customers in `opting_out` (Brevo
    unsubscribed them, the sweep opts them out first) taken as opted out already."""
    drift = Drift()
    params = {**policy_params(policy), "opting_out": list(opting_out)}
    phones: list[dict[str, Any]] = []
    async with pool.connection() as conn:
        for row in await (await conn.execute(drift_query(), params)).fetchall():
            if row["kind"] == PHONE:
                phones = [{"customer_id": c, "phone": p, "held_sms": s, "list_drift": d}
                          for c, p, s, d in zip(row["ids"], row["phones"], row["held_sms"],
                                                row["list_drift"], strict=True)]
                continue
            drift.ids.setdefault(row["kind"], []).extend(row["ids"])
            if row["renames"]:
                drift.renamed.extend(row["ids"])
            if row["how"] is not None:
                drift.how[row["kind"]] = row["how"]
    # The phones SQL could not settle, by the one rule (brevo_sync.differs).
    changed, listed = sweep_phone_differs(phones, policy.phone_region)
    for kind, ids in ((ATTRIBUTES, changed), (LIST, listed)):
        if ids:
            drift.ids.setdefault(kind, []).extend(ids)
    for ids in drift.ids.values():
        ids.sort()
    opted_in, drift.synced_contacts = await sweep_totals(pool)
    # Those opted out first no longer count as opted in, as after the sweep's own opt-out.
    drift.opted_in = max(0, opted_in - len(set(opting_out)))
    return drift


async def enqueue_drift(pool: Pool, drift: Drift) -> dict[str, int]:
    """Queue the drift, kind by kind; returns how many rows each kind added (a customer
    already pending is left as it is)."""
    added: dict[str, int] = {}
    async with pool.connection() as conn:
        for kind in KINDS:
            added[kind] = await queue.enqueue_drift(conn, drift.ids.get(kind, []),
                                                    f"reconcile:{kind}")
    return added

