"""The rows the engine works with, as plain values: a customer, its queue row, its sync state
and its contact in the mirror of Brevo (brevo_sync.contacts): the row as read before deciding
(MirrorContact), and what a push learnt of it, merged into that row (MirrorPatch).

Brevo's own JSON for a contact is brevo_sync/brevo/models.py's Contact; the admin's views
render mirror rows as dicts (brevo_sync/views.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Customer:
    id: UUID
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    marketing_opt_in: bool = False
    used_welcome_offer: bool = False
    brevo_contact_id: int | None = None
    fingerprint: str = ""


@dataclass(frozen=True)
class QueueItem:
    """A claimed queue row: which customer, at which version, and a deleted row's leftovers."""

    customer_id: UUID
    version: int
    deleted: bool = False
    deleted_email: str | None = None
    deleted_contact_id: int | None = None
    attempts: int = 1


@dataclass(frozen=True)
class MirrorContact:
    """What the mirror says Brevo holds for a customer: its row, whole."""

    id: int
    email: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    list_ids: frozenset[int] = frozenset()
    email_blacklisted: bool = False
    # Lists the person left in Brevo (per-list unsubscription): never added back.
    list_unsubscribed: frozenset[int] = frozenset()


@dataclass(frozen=True)
class MirrorPatch:
    """What Brevo holds for a contact after a push: merged into its mirror row (attributes
    added to those known, lists as given, in the order given)."""

    id: int
    email: str | None
    attributes: dict[str, Any]
    list_ids: tuple[int, ...]
    email_blacklisted: bool
    # None: not learnt by this push, the mirror keeps what it knew.
    list_unsubscribed: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SyncState:
    """What the sync itself last did for a customer (brevo_sync.sync_state)."""

    email: str | None = None
    brevo_contact_id: int | None = None
    status: str = "pending"
    removed_by_sync: str | None = None
    # Set before every push: Brevo may hold a contact under this email even when no outcome
    # was recorded (the process died mid-push).
    pushed_email: str | None = None
