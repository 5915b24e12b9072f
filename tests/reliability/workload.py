"""A stream of customer changes, and the check that Brevo ended up matching the database.

The changes cover DESIGN.md's table: creates (opted in or not), name and phone edits, email
changes, opt-outs and opt-ins again, deletions. Emails and phone numbers are never reused, so
a stale or duplicated contact cannot hide behind a later one.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg

from tests.conftest import TEST_LIST_ID
from tests.reliability.harness import Emulator

Db = psycopg.Connection[dict[str, Any]]


@dataclass
class Deleted:
    """What identified the customers a workload deleted."""

    emails: set[str] = field(default_factory=set)
    contact_ids: set[int] = field(default_factory=set)

    def __or__(self, other: Deleted) -> Deleted:
        return Deleted(self.emails | other.emails, self.contact_ids | other.contact_ids)


def _deleted_in_history(db: Db) -> Deleted:
    """Contacts the sync ever pushed for customers gone since (their ids and emails)."""
    rows = db.execute(
        "SELECT DISTINCT lower(h.email) AS email, h.brevo_contact_id FROM brevo_sync.history h"
        " WHERE NOT EXISTS (SELECT FROM customers c WHERE c.id = h.customer_id)").fetchall()
    return Deleted({r["email"] for r in rows if r["email"]},
                   {r["brevo_contact_id"] for r in rows if r["brevo_contact_id"] is not None})


@dataclass
class Workload:
    """Applies `count` changes, one to `per_transaction` of them a transaction (as an
    application does: the sync must never deadlock with it); remembers what it deleted."""

    tag: str
    seed: int = 1
    rng: random.Random = field(init=False)
    ids: list[UUID] = field(default_factory=list)
    deleted: Deleted = field(default_factory=Deleted)
    applied: int = 0
    per_transaction: int = 4
    _serial: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def run(self, db: Db, count: int, *, per_second: float | None = None,
            between: Callable[[int], None] | None = None) -> None:
        """Apply `count` changes, at most `per_second` of them a second; `between(applied)` is
        called after each transaction (to kill a process, say)."""
        started = time.monotonic()
        while self.applied < count:
            changes = min(self.rng.randint(1, self.per_transaction), count - self.applied)
            with db.transaction():
                for _ in range(changes):
                    self._change(db)
            self.applied += changes
            if between is not None:
                between(self.applied)
            if per_second:
                ahead = self.applied / per_second - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)  # pacing the writer, not waiting on a condition

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def _change(self, db: Db) -> None:
        roll = self.rng.random()
        if len(self.ids) < 20 or roll < 0.45:
            self._insert(db)
            return
        target = self.rng.choice(self.ids)
        if roll < 0.62:
            db.execute("UPDATE customers SET first_name = %s, last_name = %s WHERE id = %s",
                       (f"First{self._next()}", f"Last{self._next()}", target))
        elif roll < 0.72:
            phone = self._phone() if self.rng.random() < 0.7 else None
            db.execute("UPDATE customers SET phone = %s WHERE id = %s", (phone, target))
        elif roll < 0.82:
            db.execute("UPDATE customers SET email = %s WHERE id = %s", (self._email(), target))
        elif roll < 0.95:
            db.execute("UPDATE customers SET marketing_opt_in = NOT marketing_opt_in,"
                       " used_welcome_offer = NOT used_welcome_offer WHERE id = %s", (target,))
        else:
            row = db.execute("DELETE FROM customers WHERE id = %s"
                             " RETURNING email, brevo_contact_id", (target,)).fetchone()
            self.ids.remove(target)
            if row is not None:
                self.deleted.emails.add(row["email"].lower())
                if row["brevo_contact_id"] is not None:
                    self.deleted.contact_ids.add(row["brevo_contact_id"])

    def _insert(self, db: Db) -> None:
        row = db.execute(
            "INSERT INTO customers (email, first_name, last_name, phone, marketing_opt_in)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (self._email(), f"First{self._next()}", f"Last{self._next()}",
             self._phone() if self.rng.random() < 0.5 else None, self.rng.random() < 0.8),
        ).fetchone()
        assert row is not None
        self.ids.append(row["id"])

    def _email(self) -> str:
        return f"{self.tag}-{self._next()}@Example.com"

    def _phone(self) -> str:
        # French mobile numbers, valid and unique: +33 6 followed by 8 digits.
        return f"+33 6 {self._next():08d}"


def queue_left(db: Db) -> int:
    row = db.execute("SELECT count(*) AS n FROM brevo_sync.queue").fetchone()
    return int(row["n"]) if row else 0


def wait_until_drained(db: Db, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (left := queue_left(db)) > 0:
        if time.monotonic() > deadline:
            rows = db.execute("SELECT customer_id, attempts, claimed_by, claimed_until,"
                              " next_attempt_at, last_error FROM brevo_sync.queue"
                              " LIMIT 5").fetchall()
            raise AssertionError(f"{left} changes still queued after {timeout} s: {rows}")
        time.sleep(0.05)


def mismatches(db: Db, emulator: Emulator, deleted: Deleted) -> list[str]:
    """Every way Brevo differs from the database; empty when they agree."""
    deleted = deleted | _deleted_in_history(db)
    contacts = emulator.contacts()
    by_id = {c["id"]: c for c in contacts}
    by_email = {c["email"]: c for c in contacts if c.get("email")}
    problems: list[str] = []
    owned: set[int] = set()
    for customer in db.execute("SELECT * FROM customers").fetchall():
        problems += _customer_problems(customer, by_id, by_email)
        if customer["brevo_contact_id"] is not None:
            owned.add(customer["brevo_contact_id"])
    for contact in contacts:
        if contact["id"] in deleted.contact_ids or contact.get("email") in deleted.emails:
            if TEST_LIST_ID in contact["listIds"]:
                problems.append(f"contact {contact['id']} of a deleted customer is still listed")
        elif contact["id"] not in owned:
            problems.append(f"contact {contact['id']} ({contact.get('email')}) belongs to no "
                            "customer: a duplicate or a stale one")
    errors = db.execute("SELECT customer_id, last_error FROM brevo_sync.sync_state"
                        " WHERE status = 'error'").fetchall()
    problems += [f"sync error for {e['customer_id']}: {e['last_error']}" for e in errors]
    return problems


def _customer_problems(customer: dict[str, Any], by_id: dict[int, dict[str, Any]],
                       by_email: dict[str, dict[str, Any]]) -> list[str]:
    email = customer["email"].lower()
    known_id = customer["brevo_contact_id"]
    contact = by_email.get(email)
    if contact is not None and contact["id"] != known_id:
        return [f"{email}: the contact with this email is {contact['id']}, but the customer's "
                f"brevo_contact_id is {known_id}"]
    if not customer["marketing_opt_in"]:
        held = by_id.get(known_id) if known_id is not None else None
        if held is not None and not held["emailBlacklisted"]:
            return [f"{email} opted out but contact {known_id} is not blocklisted"]
        return []
    if contact is None:
        return [f"{email} opted in but is not in Brevo"]
    problems = []
    if contact["emailBlacklisted"] or TEST_LIST_ID not in contact["listIds"]:
        problems.append(f"{email} opted in but blocklisted or out of the list")
    attributes = contact["attributes"]
    wanted = {"FIRSTNAME": customer["first_name"], "LASTNAME": customer["last_name"],
              "USED_WELCOME_OFFER": customer["used_welcome_offer"]}
    for name, value in wanted.items():
        if attributes.get(name) != value:
            problems.append(f"{email}: {name} is {attributes.get(name)!r}, wanted {value!r}")
    if _digits(customer["phone"]) != _digits(attributes.get("SMS")):
        problems.append(f"{email}: SMS is {attributes.get('SMS')!r}, wanted {customer['phone']!r}")
    return problems


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def assert_brevo_matches(db: Db, emulator: Emulator, deleted: Deleted) -> None:
    problems = mismatches(db, emulator, deleted)
    assert not problems, (f"{len(problems)} differences, first ones: {problems[:10]}\n"
                          + explain(db, problems[:3]))


def explain(db: Db, problems: list[str]) -> str:
    """The history of the customers named in `problems`, to tell what happened."""
    lines = []
    for email in dict.fromkeys(re.findall(r"[\w.-]+@example\.com", " ".join(problems))):
        rows = db.execute(
            "SELECT h.customer_id, h.at, h.action, h.outcome, h.brevo_contact_id, h.email,"
            " h.message FROM brevo_sync.history h WHERE h.customer_id IN (SELECT customer_id"
            " FROM brevo_sync.history WHERE lower(email) = %s UNION SELECT id FROM customers"
            " WHERE lower(email) = %s) ORDER BY h.at", (email, email)).fetchall()
        lines.append(f"{email}:")
        lines += [f"  {r['at']:%H:%M:%S.%f} {r['customer_id']} {r['action']} {r['outcome']}"
                  f" #{r['brevo_contact_id']} {r['email']} {r['message'] or ''}" for r in rows]
    return "\n".join(lines)


def history_counts(db: Db) -> dict[str, int]:
    rows = db.execute("SELECT outcome, count(*) AS n FROM brevo_sync.history"
                      " GROUP BY outcome").fetchall()
    return {r["outcome"]: int(r["n"]) for r in rows}
