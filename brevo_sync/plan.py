"""A sweep's plan: what Sync All is about to change, known before anything is changed.

The sweep (reconcile.py) plans first, only reading (Brevo's contacts into the mirror, then
Brevo's unsubscribes and the drift in SQL), then acts on the plan. A dry run stops after the
plan: `brevo-sync reconcile --dry-run`, POST /api/admin/customers/sync-all with
`{"dry_run": true}`, and the confirmation of the page's Sync All show it.

Changes, each counted and shown by its first rows:

    creates     opted-in customers Brevo does not hold                  (drift "missing")
    updates     contacts whose attributes or list membership differ     ("attributes", "list")
    renames     contacts whose email changes                            ("attributes")
    removals    opted-out or deleted customers, removed from the list or deleted (the policy)
    blocklists  opted-out or deleted customers blocklisted (the policy), and customers Brevo
                unsubscribed, opted out here (`unsubscribes` counts those)

A customer Brevo unsubscribed may also be in removals or blocklists: opted out here, their
contact is then removed the way the policy says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from brevo_sync.db import Pool
from brevo_sync.decide import Action, Create, Nothing, Policy, Reject, Remove, Update
from brevo_sync.drift import ATTRIBUTES, DELETED, LIST, MISSING, OPTED_OUT, Drift
from brevo_sync.engine import Prepared, decide_now
from brevo_sync.rows import MirrorContact
from brevo_sync.unsubscribes import LEFT_LIST, Unsubscribe

CREATES, UPDATES, RENAMES, REMOVALS, BLOCKLISTS = (
    "creates", "updates", "renames", "removals", "blocklists")
CHANGES = (CREATES, UPDATES, RENAMES, REMOVALS, BLOCKLISTS)
# The verb a change takes in a sentence ("would create 3").
VERBS = {CREATES: "create", UPDATES: "update", RENAMES: "rename", REMOVALS: "remove",
         BLOCKLISTS: "blocklist"}
FIRST_ROWS = 5
SHOWN_VALUE = 40  # characters of a value shown in a change, the rest cut


@dataclass(frozen=True)
class PlanRow:
    """One customer of a change, as the admin page shows it (the email is not masked: the
    page and the API are the admin's)."""

    customer_id: UUID
    name: str
    email: str | None
    change: str

    def as_json(self) -> dict[str, Any]:
        return {"customer_id": str(self.customer_id), "name": self.name, "email": self.email,
                "change": self.change}


@dataclass
class Plan:
    drift: Drift
    unsubscribes: list[Unsubscribe] = field(default_factory=list)
    changes: dict[str, list[UUID]] = field(default_factory=dict)
    rows: dict[str, list[PlanRow]] = field(default_factory=dict)
    # Why the sweep would not act at all (the removal safeguard), or None.
    refused: str | None = None
    mirror: dict[str, Any] = field(default_factory=dict)
    # Setup findings of a dry run (it creates nothing in Brevo; the sweep would first).
    setup: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {change: len(self.changes.get(change, ())) for change in CHANGES}

    @property
    def total(self) -> int:
        return sum(self.counts().values())

    @property
    def opting_out(self) -> list[UUID]:
        return [u[0] for u in self.unsubscribes]

    def message(self) -> str:
        return plan_message(self.counts(), len(self.unsubscribes), self.drift.opted_in,
                            self.refused)

    def as_json(self) -> dict[str, Any]:
        """The answer of a dry run (DESIGN.md: POST sync-all {"dry_run": true})."""
        return {
            "dry_run": True,
            "status": "refused" if self.refused else "planned",
            "message": self.message(),
            "counts": self.counts(),
            "unsubscribes": len(self.unsubscribes),
            "rows": {change: [r.as_json() for r in self.rows.get(change, ())]
                     for change in CHANGES},
            "opted_in": self.drift.opted_in,
            "synced_contacts": self.drift.synced_contacts,
            "drift": self.drift.counts(),
            "refused": self.refused,
            "mirror": self.mirror,
            "setup": self.setup,
        }

    def text(self) -> str:
        return plan_text(self.message(), self.counts(), self.rows, self.setup)

    def release(self) -> None:
        """Forget the customer ids (and so the counts): once queued, the sweep needs none."""
        self.drift.ids.clear()
        self.drift.renamed.clear()
        self.unsubscribes.clear()
        self.changes = {change: [] for change in CHANGES}


# --- deciding what is which change (pure) -------------------------------------------------


def changes_of(drift: Drift, unsubscribes: Iterable[Unsubscribe]) -> dict[str, list[UUID]]:
    """Each change and its customers, sorted: the drift's kinds split by what the sweep does
    about them (a rename, the policy's removal), Brevo's unsubscribes among the blocklists."""
    renamed = set(drift.renamed)
    changes: dict[str, set[UUID]] = {change: set() for change in CHANGES}
    changes[CREATES].update(drift.ids.get(MISSING, ()))
    changes[RENAMES].update(renamed)
    changes[UPDATES].update(i for i in drift.ids.get(ATTRIBUTES, ()) if i not in renamed)
    changes[UPDATES].update(drift.ids.get(LIST, ()))
    for kind in (OPTED_OUT, DELETED):
        removal = BLOCKLISTS if drift.how.get(kind) == "blocklist" else REMOVALS
        changes[removal].update(drift.ids.get(kind, ()))
    changes[BLOCKLISTS].update(u[0] for u in unsubscribes)
    return {change: sorted(ids) for change, ids in changes.items()}


def first_ids(changes: dict[str, list[UUID]], n: int = FIRST_ROWS) -> list[UUID]:
    """The customers whose rows the plan shows: the first `n` of each change."""
    return sorted({i for ids in changes.values() for i in ids[:n]})


# --- what a row's change says (pure) -------------------------------------------------------


def describe(action: Action, known: MirrorContact | None) -> str:
    """What pushing this customer would change in Brevo, in a few words."""
    if isinstance(action, Create):
        return _describe_create(action)
    if isinstance(action, Update):
        return _describe_update(action, known)
    if isinstance(action, Remove):
        target = f"contact {action.contact_id}" if action.contact_id else "the contact"
        what = {"blocklist": f"blocklist {target}",
                "unlist": f"remove {target} from list {action.list_id}",
                "delete": f"delete {target}"}.get(action.how, f"{action.how} {target}")
        return f"{what} ({action.why})"
    if isinstance(action, Nothing):
        return f"no change: {action.reason}"
    assert isinstance(action, Reject)
    return f"not sent: {action.reason}"


def _describe_create(action: Create) -> str:
    parts = ["create the contact"]
    if action.previous_email:
        parts = [f"create the contact (or rename the one of {action.previous_email})"]
    parts += _lists_and_unblock(action.list_ids, action.unblock)
    return _with_note("; ".join(parts), action.note)


def _describe_update(action: Update, known: MirrorContact | None) -> str:
    if known is None or known.id != action.contact_id:
        text = (f"update contact {action.contact_id} with every field (the mirror does not"
                " hold it; created again if Brevo no longer does)")
        return _with_note(text, action.note)
    parts = []
    if action.new_email:
        parts.append(f"email {_shown(known.email)} → {_shown(action.new_email)}")
    for name, value in action.attributes.items():
        if value == "":
            parts.append(f"clear {name}")
        else:
            parts.append(f"{name} {_shown(known.attributes.get(name))} → {_shown(value)}")
    parts += _lists_and_unblock(action.list_ids, action.unblock)
    return _with_note("; ".join(parts) or "update the contact", action.note)


def _lists_and_unblock(list_ids: Sequence[int], unblock: bool) -> list[str]:
    parts = []
    if list_ids:
        parts.append(f"add to list {', '.join(str(i) for i in list_ids)}")
    if unblock:
        parts.append("lift the sync's own blocklist")
    return parts


def _with_note(text: str, note: str | None) -> str:
    return f"{text} ({note})" if note else text


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= SHOWN_VALUE else text[:SHOWN_VALUE - 1] + "…"


def unsubscribe_change(reason: str, list_id: int | None) -> str:
    """What the sweep does here for a customer Brevo unsubscribed."""
    if list_id is not None and reason == LEFT_LIST.format(list_id=list_id):
        return f"opt out here: left list {list_id} in Brevo"
    return "opt out here: blocklisted in Brevo (unsubscribe, complaint or bounce)"


def plan_rows(changes: dict[str, list[UUID]], decided: Sequence[Prepared],
              unsubscribes: Sequence[Unsubscribe], list_id: int | None,
              n: int = FIRST_ROWS) -> dict[str, list[PlanRow]]:
    """The first `n` rows of each change: who, and what the engine would change for them."""
    by_id = {p.item.customer_id: p for p in decided}
    reasons = {u[0]: u[2] for u in unsubscribes}
    rows: dict[str, list[PlanRow]] = {}
    for change in CHANGES:
        rows[change] = []
        for cid in changes.get(change, [])[:n]:
            prepared = by_id.get(cid)
            parts = []
            if change == BLOCKLISTS and cid in reasons:
                parts.append(unsubscribe_change(reasons[cid], list_id))
            if prepared is not None and not (parts and isinstance(prepared.action, Nothing)):
                parts.append(describe(prepared.action, prepared.known))
            rows[change].append(_row(cid, prepared, "; then ".join(parts) or "gone meanwhile"))
    return rows


def _row(cid: UUID, prepared: Prepared | None, change: str) -> PlanRow:
    customer = prepared.customer if prepared else None
    if customer is None:
        email = prepared.item.deleted_email if prepared else None
        return PlanRow(cid, "(deleted)" if prepared else "", email, change)
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p and p.strip())
    return PlanRow(cid, name, customer.email, change)


async def first_rows(pool: Pool, policy: Policy, changes: dict[str, list[UUID]],
                     unsubscribes: Sequence[Unsubscribe],
                     n: int = FIRST_ROWS) -> dict[str, list[PlanRow]]:
    """The first `n` rows of each change, decided by the engine's own rules (decide.py)."""
    decided = await decide_now(pool, policy, first_ids(changes, n),
                               opting_out=frozenset(u[0] for u in unsubscribes))
    return plan_rows(changes, decided, unsubscribes, policy.list_id, n)


# --- rendering (pure) ----------------------------------------------------------------------


def plan_message(counts: dict[str, int], unsubscribes: int, opted_in: int,
                 refused: str | None) -> str:
    """One sentence: what the sweep would change, or that it would refuse."""
    if refused is not None:
        return f"Sync All would change nothing: {refused}"
    if not any(counts.values()):
        return (f"Nothing to change: Brevo matches the {opted_in:,} opted-in"
                f" customer{'' if opted_in == 1 else 's'}")
    done = ", ".join(f"{VERBS[change]} {counts[change]:,}" for change in CHANGES)
    text = f"Sync All would {done}"
    if unsubscribes:
        text += (f" ({unsubscribes:,} of the blocklists unsubscribed in Brevo, opted out"
                 " here)")
    return text


def plan_text(message: str, counts: dict[str, int], rows: dict[str, list[PlanRow]],
              setup: Sequence[str]) -> str:
    """The plan for a terminal: the sentence, then each change with its first rows."""
    lines = [message]
    lines += [f"setup: {finding}" for finding in setup]
    for change in CHANGES:
        if not counts.get(change):
            continue
        lines.append(f"{change} ({counts[change]:,}):")
        for row in rows.get(change, ()):
            who = " ".join(p for p in (row.name, f"<{row.email}>" if row.email else "") if p)
            lines.append(f"  {row.customer_id}  {who or '-'}: {row.change}")
        if counts[change] > len(rows.get(change, ())):
            lines.append(f"  … and {counts[change] - len(rows.get(change, ())):,} more")
    return "\n".join(lines)
