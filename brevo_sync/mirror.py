"""The mirror of Brevo's contacts (brevo_sync.contacts), refreshed by listing them.

Incremental by default: the contacts modified since the last listing began, less an overlap.
A contact deleted in Brevo never shows in such a listing, so Brevo's total count is compared
with the mirror's afterwards; when they differ (or there is no watermark yet, or the last full
listing is old) every contact is listed and those not seen are pruned.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog

from brevo_sync.attributes import DEFAULT_NAMES, AttributeNames
from brevo_sync.brevo import BrevoClient, Contact
from brevo_sync.brevo.pages import contact_pages
from brevo_sync.db import Pool, q

log = structlog.get_logger("brevo_sync.mirror")

PAGE_SIZE = 1000  # Brevo's largest page
# Listing from a little before the last one began covers clock skew between us and Brevo and
# a write Brevo shows late. Everything modified inside it is listed again, so it stays short:
# a bulk import just before a listing would otherwise be listed twice.
OVERLAP = timedelta(seconds=5)
# A full listing now and then catches whatever a modifiedSince listing cannot show.
FULL_REFRESH_EVERY = timedelta(days=7)
UPSERT_ATTEMPTS = 3

# Clients whose account the mirror is known to describe, in this process.
_vouched: weakref.WeakSet[BrevoClient] = weakref.WeakSet()


@dataclass(frozen=True)
class MirrorRefresh:
    full: bool
    reason: str
    listed: int
    pruned: int
    brevo_count: int
    mirror_count: int

    def as_json(self) -> dict[str, Any]:
        return {"full": self.full, "reason": self.reason, "listed": self.listed,
                "pruned": self.pruned, "brevoCount": self.brevo_count,
                "mirrorCount": self.mirror_count}


@dataclass(frozen=True)
class MirrorState:
    watermark: datetime | None
    last_full_refresh_at: datetime | None
    brevo_count: int | None
    mirror_count: int
    db_now: datetime
    account_mark: str | None = None


@dataclass(frozen=True)
class Mirrored:
    """What the mirror holds for one contact id."""

    email: str | None
    created_at: datetime | None


def account_mark(oldest: Contact | None) -> str:
    """A mark of the Brevo account the mirror describes: its oldest contact's id and creation
    time, which never change and which another account does not share."""
    if oldest is None:
        return "empty"
    return f"{oldest.id}@{oldest.created_at.isoformat()}"


def holds_oldest(oldest: Contact | None, mirrored: Mirrored | None) -> bool:
    """Whether the mirror holds the account's oldest contact as it is: with its email, and its
    creation time when it was listed. So the mirror is this account's even though the mark
    changed (the account was empty, or its oldest contact was deleted)."""
    if oldest is None or mirrored is None or not mirrored.email or not oldest.email:
        return False
    if mirrored.email.lower() != oldest.email.lower():
        return False
    return mirrored.created_at is None or mirrored.created_at == oldest.created_at


def full_refresh_reason(state: MirrorState, *, asked: bool) -> str | None:
    """Why every contact must be listed this time, or None when an incremental listing does."""
    if asked:
        return "full refresh asked for"
    if state.watermark is None:
        return "first listing (no watermark)"
    if state.last_full_refresh_at is None or \
            state.db_now - state.last_full_refresh_at > FULL_REFRESH_EVERY:
        return f"last full listing older than {FULL_REFRESH_EVERY.days} days"
    return None


def count_mismatch(mirror_count: int, brevo_count: int) -> str | None:
    if mirror_count == brevo_count:
        return None
    return (f"the mirror holds {mirror_count} contacts, Brevo {brevo_count}"
            " (contacts deleted in Brevo show in no modifiedSince listing)")


async def refresh_mirror(pool: Pool, client: BrevoClient, *, full: bool = False,
                         on_page: Callable[[int], None] | None = None,
                         names: AttributeNames = DEFAULT_NAMES) -> MirrorRefresh:
    """Bring the mirror up to date with Brevo; `on_page(listed so far)` reports progress.
    `names` are the account's attribute names (settings BREVO_ATTR_*)."""
    began = datetime.now(UTC)
    # Counted first: a contact created while listing then makes Brevo's count smaller than
    # the mirror's only if it was also deleted meanwhile. The oldest contact marks the account.
    page, brevo_count = await client.list_contacts(limit=1)
    oldest = page[0] if page else None
    mark = account_mark(oldest)
    state = await _read_state(pool)
    reason = await _check_account(pool, state, oldest)
    if reason is not None:
        state = await _read_state(pool)
    reason = reason or full_refresh_reason(state, asked=full)
    listed = 0
    if reason is None:
        assert state.watermark is not None
        listed, _ = await _list_into_mirror(pool, client, state.watermark - OVERLAP, on_page,
                                            names)
        mirror_count = await _mirror_count(pool)
        reason = count_mismatch(mirror_count, brevo_count)
        if reason is None:
            await _save_state(pool, watermark=began, brevo_count=brevo_count, full=False,
                              mark=mark)
            _vouched.add(client)
            log.info("mirror_refresh", full=False, listed=listed, brevo_count=brevo_count)
            return MirrorRefresh(False, "incremental", listed, 0, brevo_count, mirror_count)
    refreshed = await _full_refresh(pool, client, reason, listed, on_page, mark, names)
    _vouched.add(client)
    return refreshed


async def vouch_for_mirror(pool: Pool, client: BrevoClient) -> None:
    """Make sure the mirror describes the account `client` talks to before anything it says
    is taken for that account (whose contact an id names): once per client, one call. A
    mirror of another account (a restored database, a Neon branch, another key) is emptied;
    the next refresh lists everything."""
    if client in _vouched:
        return
    page, _ = await client.list_contacts(limit=1)
    await _check_account(pool, await _read_state(pool), page[0] if page else None)
    _vouched.add(client)


async def _check_account(pool: Pool, state: MirrorState, oldest: Contact | None) -> str | None:
    """Record the account's mark; empty a mirror that may describe another account. Returns
    why every contact must now be listed, or None when the mirror was kept."""
    mark = account_mark(oldest)
    if state.account_mark == mark:
        return None
    mirrored = None
    if oldest is not None:
        async with pool.connection() as conn:
            row = await (await conn.execute(q("mirror_contact"), {"id": oldest.id})).fetchone()
        mirrored = Mirrored(row["email"], row["created_at"]) if row else None
    wipe = state.mirror_count > 0 and not holds_oldest(oldest, mirrored)
    async with pool.connection() as conn, conn.transaction():
        if wipe:
            await conn.execute(q("mirror_wipe"))
        await conn.execute(q("mirror_mark"), {"mark": mark, "wiped": wipe})
    if not wipe:
        return None
    log.warning("mirror_of_another_account", forgotten=state.mirror_count,
                had_mark=state.account_mark is not None)
    return "the mirror described another Brevo account (or none recorded): emptied"


async def _full_refresh(pool: Pool, client: BrevoClient, reason: str, listed_before: int,
                        on_page: Callable[[int], None] | None, mark: str,
                        names: AttributeNames) -> MirrorRefresh:
    began = datetime.now(UTC)
    # Rows not seen since this moment (by the database's clock, as seen_at is) are pruned.
    seen_since = (await _read_state(pool)).db_now

    def page_done(n: int) -> None:
        if on_page is not None:
            on_page(listed_before + n)

    listed, brevo_count = await _list_into_mirror(pool, client, None, page_done, names)
    async with pool.connection() as conn:
        pruned = (await conn.execute(q("mirror_prune"), {"since": seen_since})).rowcount
    mirror_count = await _mirror_count(pool)
    await _save_state(pool, watermark=began, brevo_count=brevo_count, full=True, mark=mark)
    log.info("mirror_refresh", full=True, reason=reason, listed=listed, pruned=pruned,
             brevo_count=brevo_count, mirror_count=mirror_count)
    return MirrorRefresh(True, reason, listed_before + listed, pruned, brevo_count, mirror_count)


async def _list_into_mirror(pool: Pool, client: BrevoClient, since: datetime | None,
                            on_page: Callable[[int], None] | None,
                            names: AttributeNames) -> tuple[int, int]:
    """List contacts (modified since `since`, or all) page by page into the mirror; returns
    how many were listed and the total Brevo reported. The next page is fetched while the
    last one is written, so the listing runs at the rate limiter's pace."""

    listed = total = 0
    pages = contact_pages(client, PAGE_SIZE, modified_since=since, prefetch=True)
    # Left early (a failed write): closing the walk drops the page fetched meanwhile.
    async with aclosing(pages):
        async for page in pages:
            if page.items:
                await upsert_contacts(pool, page.items, fetched_at=page.asked_at, names=names)
            listed += len(page.items)
            total = page.total
            if on_page is not None:
                on_page(listed)
    return listed, total


async def upsert_contacts(pool: Pool, contacts: Sequence[Contact], *,
                          fetched_at: datetime | None = None,
                          names: AttributeNames = DEFAULT_NAMES) -> None:
    """Write listed contacts into the mirror, as one short transaction sorted by id. A contact
    a push recorded after `fetched_at` keeps the push's state: the page is older news."""
    params: dict[str, Any] = {**_upsert_params(contacts), "fetched_at": fetched_at,
                              **names.sql_params()}
    emails = {"emails": [e for e in params["emails"] if e], "ids": params["ids"]}
    for attempt in range(1, UPSERT_ATTEMPTS + 1):
        try:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(q("mirror_release_emails"), params)
                await conn.execute(q("forget_contact_emails"), emails)
                await conn.execute(q("mirror_upsert"), params)
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.UniqueViolation):
            # A push recorded the same contacts meanwhile; the page is simply written again.
            if attempt == UPSERT_ATTEMPTS:
                raise


def _upsert_params(contacts: Sequence[Contact]) -> dict[str, list[Any]]:
    ordered = sorted({c.id: c for c in contacts}.values(), key=lambda c: c.id)
    return {
        "ids": [c.id for c in ordered],
        "emails": [c.email for c in ordered],
        "attributes": [json.dumps(c.attributes) for c in ordered],
        "list_ids": ["{" + ",".join(str(i) for i in c.list_ids) + "}" for c in ordered],
        "list_unsubscribed": ["{" + ",".join(str(i) for i in c.list_unsubscribed) + "}"
                              for c in ordered],
        "email_blacklisted": [c.email_blacklisted for c in ordered],
        "sms_blacklisted": [c.sms_blacklisted for c in ordered],
        "created_at": [c.created_at for c in ordered],
        "modified_at": [c.modified_at for c in ordered],
    }


async def _read_state(pool: Pool) -> MirrorState:
    async with pool.connection() as conn:
        row = await (await conn.execute(q("mirror_state"))).fetchone()
    assert row is not None, "brevo_sync.mirror_state has no row: run `brevo-sync migrate`"
    return MirrorState(row["watermark"], row["last_full_refresh_at"], row["brevo_count"],
                       int(row["mirror_count"]), row["db_now"], row["account_mark"])


async def _mirror_count(pool: Pool) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute(q("mirror_count"))).fetchone()
    return int(row["n"]) if row else 0


async def _save_state(pool: Pool, *, watermark: datetime, brevo_count: int, full: bool,
                      mark: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(q("mirror_save_state"), {
            "watermark": watermark, "brevo_count": brevo_count, "full": full, "mark": mark})
