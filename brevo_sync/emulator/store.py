"""The in-memory Brevo account: contacts with unique identifier indexes, lists, folders, processes.

Contacts are kept in creation order (ids only grow), so pages are slices and `createdSince`
is a binary search; `modifiedSince` and list filters are one linear pass (about 5 ms at 100,000).
Every method is synchronous, so each API call is atomic under the event loop.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from brevo_sync.emulator.attributes import AttributeRegistry
from brevo_sync.emulator.clock import Clock, format_millis, to_millis
from brevo_sync.emulator.errors import IDENTIFIER_ORDER
from brevo_sync.emulator.processes import ProcessRegistry

DEFAULT_FOLDER_ID = 1
DEFAULT_LIST_ID = 2
DEFAULT_LIST_NAME = "brevo-sync"

_formatted = lru_cache(maxsize=65536)(format_millis)


@dataclass(slots=True)
class StoredContact:
    id: int
    email: str | None
    attributes: dict[str, Any]
    email_blacklisted: bool
    sms_blacklisted: bool
    list_ids: set[int]
    created_ms: int
    modified_ms: int
    # Lists the person left (per-list unsubscription), and their own unsubscriptions
    # (statistics.unsubscriptions.userUnsubscription items).
    list_unsubscribed: set[int] = field(default_factory=set)
    user_unsubscriptions: list[dict[str, Any]] = field(default_factory=list)

    def identifiers(self) -> dict[str, str]:
        """Unique identifiers by Brevo's metadata name (`email`, `SMS`, `EXT_ID`, …)."""
        found = {name: self.attributes.get(name) for name in IDENTIFIER_ORDER[1:]}
        found["email"] = self.email
        return {name: value for name, value in found.items() if value}

    def as_json(self) -> dict[str, Any]:
        """The GET /contacts item shape (no statistics)."""
        body: dict[str, Any] = {"id": self.id}
        if self.email is not None:
            body["email"] = self.email
        body.update(
            emailBlacklisted=self.email_blacklisted,
            smsBlacklisted=self.sms_blacklisted,
            createdAt=_formatted(self.created_ms),
            modifiedAt=_formatted(self.modified_ms),
            attributes=dict(self.attributes),
            listIds=sorted(self.list_ids),
        )
        if self.list_unsubscribed:
            # Brevo sends it only where per-list unsubscription is on; it is then never empty
            # for someone who left a list.
            body["listUnsubscribed"] = sorted(self.list_unsubscribed)
        return body


@dataclass
class ContactPatch:
    """A validated change. `identifiers` maps a metadata name to a new value, or None to clear."""

    identifiers: dict[str, str | None] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    email_blacklisted: bool | None = None
    sms_blacklisted: bool | None = None
    add_lists: list[int] = field(default_factory=list)
    remove_lists: list[int] = field(default_factory=list)

    def list_ids(self) -> list[int]:
        return self.add_lists + self.remove_lists


@dataclass
class ContactList:
    id: int
    name: str
    folder_id: int
    created_ms: int
    members: set[int] = field(default_factory=set)


@dataclass
class Folder:
    id: int
    name: str


class IdentifierConflict(Exception):
    """Another contact already owns one of the identifiers; `names` are Brevo's metadata names."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


class ContactStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.attributes = AttributeRegistry()
        self.processes = ProcessRegistry(self.clock)
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------

    def reset(self, *, attributes: bool = False, language: str = "en") -> None:
        """Empty the account but for folder 1 and list 2; attributes only when asked (those
        of a new account in `language`)."""
        self._by_id: dict[int, StoredContact] = {}
        self._ordered: list[StoredContact] = []
        self._index: dict[str, dict[str, int]] = {name: {} for name in IDENTIFIER_ORDER}
        self._next_contact_id = 1
        now = self.now_ms()
        self._folders = {DEFAULT_FOLDER_ID: Folder(DEFAULT_FOLDER_ID, "Your first folder")}
        self._lists = {
            DEFAULT_LIST_ID: ContactList(DEFAULT_LIST_ID, DEFAULT_LIST_NAME, DEFAULT_FOLDER_ID, now)
        }
        self._next_list_id = DEFAULT_LIST_ID + 1
        self.processes.reset()
        if attributes:
            self.attributes.reset(language)

    def now_ms(self) -> int:
        return to_millis(self.clock.wall())

    def settle(self) -> None:
        """Apply background processes that have finished by now."""
        self.processes.settle()

    # -- read API for tests and the control endpoints -----------------------------------------

    def contacts(self) -> list[dict[str, Any]]:
        self.settle()
        return [contact.as_json() for contact in self._ordered]

    def get_by_email(self, email: str) -> dict[str, Any] | None:
        self.settle()
        contact = self.find("email", email.strip().lower())
        return contact.as_json() if contact else None

    def count(self) -> int:
        self.settle()
        return len(self._ordered)

    def lists(self) -> list[dict[str, Any]]:
        self.settle()
        return [self.list_json(contact_list) for contact_list in self._lists.values()]

    def list_json(self, contact_list: ContactList) -> dict[str, Any]:
        blocked = sum(1 for cid in contact_list.members if self._by_id[cid].email_blacklisted)
        return {
            "id": contact_list.id,
            "name": contact_list.name,
            "folderId": contact_list.folder_id,
            "totalSubscribers": len(contact_list.members),
            "totalBlacklisted": blocked,
            "uniqueSubscribers": len(contact_list.members),
        }

    # -- contacts ------------------------------------------------------------------------------

    def get(self, contact_id: int) -> StoredContact | None:
        return self._by_id.get(contact_id)

    def find(self, name: str, value: str) -> StoredContact | None:
        contact_id = self._index[name].get(value)
        return None if contact_id is None else self._by_id[contact_id]

    def conflicts(self, patch: ContactPatch, owner: StoredContact | None) -> list[str]:
        """Identifier names in `patch` that belong to a contact other than `owner`."""
        clashing = []
        for name, value in patch.identifiers.items():
            holder = self._index[name].get(value) if value else None
            if holder is not None and (owner is None or holder != owner.id):
                clashing.append(name)
        return clashing

    def missing_lists(self, list_ids: list[int]) -> list[int]:
        return [list_id for list_id in list_ids if list_id not in self._lists]

    def create(self, patch: ContactPatch, *, at_ms: int | None = None) -> StoredContact:
        clashing = self.conflicts(patch, None)
        if clashing:
            raise IdentifierConflict(clashing)
        now = self.now_ms() if at_ms is None else at_ms
        if self._ordered:
            # createdSince bisects on creation time, so it must never go backwards with the id.
            now = max(now, self._ordered[-1].created_ms)
        contact = StoredContact(
            id=self._next_contact_id,
            email=None,
            attributes={},
            email_blacklisted=False,
            sms_blacklisted=False,
            list_ids=set(),
            created_ms=now,
            modified_ms=now,
        )
        self._next_contact_id += 1
        self._by_id[contact.id] = contact
        self._ordered.append(contact)
        self._apply(contact, patch)
        return contact

    def update(self, contact: StoredContact, patch: ContactPatch, *,
               at_ms: int | None = None) -> None:
        clashing = self.conflicts(patch, contact)
        if clashing:
            raise IdentifierConflict(clashing)
        now = self.now_ms() if at_ms is None else at_ms
        self._apply(contact, patch)
        self.touch(contact, now)

    def touch(self, contact: StoredContact, at_ms: int | None = None) -> None:
        """Bump modifiedAt, strictly, so modifiedSince sees every write."""
        now = self.now_ms() if at_ms is None else at_ms
        contact.modified_ms = max(now, contact.modified_ms + 1)

    def delete(self, contact: StoredContact) -> None:
        for name, value in contact.identifiers().items():
            self._index[name].pop(value, None)
        for list_id in contact.list_ids:
            self._lists[list_id].members.discard(contact.id)
        del self._by_id[contact.id]
        position = bisect.bisect_left(self._ordered, contact.id, key=lambda item: item.id)
        del self._ordered[position]

    def _apply(self, contact: StoredContact, patch: ContactPatch) -> None:
        for name, value in patch.identifiers.items():
            self._set_identifier(contact, name, value)
        contact.attributes.update(patch.attributes)
        for attribute_name in [key for key, value in patch.attributes.items() if value is None]:
            del contact.attributes[attribute_name]
        if patch.email_blacklisted is not None:
            contact.email_blacklisted = patch.email_blacklisted
        if patch.sms_blacklisted is not None:
            contact.sms_blacklisted = patch.sms_blacklisted
        for list_id in patch.add_lists:
            self.link(contact, list_id)
        for list_id in patch.remove_lists:
            self.unlink(contact, list_id)

    def _set_identifier(self, contact: StoredContact, name: str, value: str | None) -> None:
        current = contact.email if name == "email" else contact.attributes.get(name)
        if current:
            self._index[name].pop(current, None)
        if name == "email":
            contact.email = value or None
        elif value:
            contact.attributes[name] = value
        else:
            contact.attributes.pop(name, None)
        if value:
            self._index[name][value] = contact.id

    # -- queries -------------------------------------------------------------------------------

    def query(
        self,
        *,
        offset: int,
        limit: int,
        sort: str,
        modified_since: int | None = None,
        created_since: int | None = None,
        list_ids: list[int] | None = None,
    ) -> tuple[list[StoredContact], int]:
        """One page in creation order (`sort` asc/desc) and the total number matching."""
        matching = self._ordered
        if created_since is not None:
            start = bisect.bisect_left(matching, created_since, key=lambda item: item.created_ms)
            matching = matching[start:]
        if modified_since is not None:
            matching = [item for item in matching if item.modified_ms >= modified_since]
        if list_ids:
            wanted = set(list_ids)
            matching = [item for item in matching if not item.list_ids.isdisjoint(wanted)]
        return _page(matching, offset, limit, sort), len(matching)

    # -- lists and folders ---------------------------------------------------------------------

    def get_list(self, list_id: int) -> ContactList | None:
        return self._lists.get(list_id)

    def all_lists(self) -> list[ContactList]:
        return list(self._lists.values())

    def create_list(self, name: str, folder_id: int) -> ContactList:
        contact_list = ContactList(self._next_list_id, name, folder_id, self.now_ms())
        self._lists[contact_list.id] = contact_list
        self._next_list_id += 1
        return contact_list

    def delete_list(self, contact_list: ContactList) -> None:
        for contact_id in contact_list.members:
            self._by_id[contact_id].list_ids.discard(contact_list.id)
        del self._lists[contact_list.id]

    def link(self, contact: StoredContact, list_id: int) -> bool:
        """Add to a list; False when already there. Someone who had left the list is
        subscribed to it again, as Brevo does (§14.5)."""
        if list_id in contact.list_ids:
            return False
        contact.list_unsubscribed.discard(list_id)
        contact.list_ids.add(list_id)
        self._lists[list_id].members.add(contact.id)
        return True

    def unlink(self, contact: StoredContact, list_id: int) -> bool:
        if list_id not in contact.list_ids:
            return False
        contact.list_ids.discard(list_id)
        self._lists[list_id].members.discard(contact.id)
        return True

    def unsubscribe(self, contact: StoredContact, list_id: int | None, campaign_id: int) -> None:
        """As if the person clicked a campaign's unsubscribe link: out of `list_id` only
        (per-list unsubscription), or blocklisted for email; recorded in the statistics."""
        if list_id is None:
            contact.email_blacklisted = True
        else:
            self.unlink(contact, list_id)
            contact.list_unsubscribed.add(list_id)
        contact.user_unsubscriptions.append(
            {"campaignId": campaign_id, "eventTime": _formatted(self.now_ms())})
        self.touch(contact)

    def get_folder(self, folder_id: int) -> Folder | None:
        return self._folders.get(folder_id)



def _page(items: list[StoredContact], offset: int, limit: int, sort: str) -> list[StoredContact]:
    if sort == "asc":
        return items[offset : offset + limit]
    end = len(items) - offset
    if end <= 0:
        return []
    page = items[max(0, end - limit) : end]
    page.reverse()
    return page
