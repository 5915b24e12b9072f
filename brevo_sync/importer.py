"""The bulk path: a backlog goes to Brevo as a few imports instead of one call per customer.

Brevo's import answers with a process id, not contact ids, so the new ids are learnt by
listing the contacts modified since the import began, newest-created first: the contacts an
import created are on the first pages, and the listing stops once every row is found.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from brevo_sync.brevo import BrevoClient, Contact
from brevo_sync.brevo.bulk import chunk_import_rows
from brevo_sync.brevo.errors import BrevoTransientError
from brevo_sync.model import Customer, QueueItem
from brevo_sync.outcome import MirrorRow, Outcome

# Brevo's clock and ours may differ; list from a little before the import began. Everything
# modified within this margin before the import is listed too (another batch's contacts just
# imported, say), so it is kept to what NTP-synced clocks need.
CLOCK_SKEW = timedelta(seconds=10)
LIST_PAGE = 1000
MIN_PROCESS_WAIT = 60.0
# Without a deadline (the listener), a large import gets time in proportion to its size.
WAIT_PER_ROW = 0.01


@dataclass(frozen=True)
class ImportRow:
    item: QueueItem
    customer: Customer
    email: str
    attributes: dict[str, Any]
    action: str
    note: str | None = None       # for the history: a phone left out, say
    sms_withheld: bool = False


async def push_import(client: BrevoClient, rows: Sequence[ImportRow], list_id: int, *,
                      deadline: float | None) -> tuple[list[Outcome], list[ImportRow]]:
    """Import `rows`; returns the outcomes of the rows now in Brevo, and the rows that are not
    (Brevo skipped them: invalid or duplicate values), for the caller to push one by one so
    that each gets Brevo's own reason."""
    started = time.perf_counter()
    since = datetime.now(UTC) - CLOCK_SKEW
    payload = [{"email": r.email, "attributes": r.attributes} for r in rows]
    for chunk in chunk_import_rows(payload):
        # Rows carry every synced attribute, so an empty name means "clear it" (a removed
        # phone is absent, not empty, and goes one by one).
        process_id = await client.import_contacts(chunk, list_ids=[list_id],
                                                  empty_attributes=True)
        wait = max(MIN_PROCESS_WAIT, len(chunk) * WAIT_PER_ROW) if deadline is None else max(
            MIN_PROCESS_WAIT, deadline - time.monotonic())
        process = await client.wait_for_process(process_id, timeout=wait)
        if not process.succeeded:
            raise BrevoTransientError(
                f"Brevo import {process_id} ended {process.status}: {process.error or ''}")
    wanted = {r.email: r for r in rows}
    found: dict[str, Outcome] = {}
    async for contact in _modified_newest_first(client, since):
        row = wanted.get(contact.email or "")
        if row is None or row.email in found:
            continue
        mirror = MirrorRow(contact.id, contact.email, dict(contact.attributes),
                           tuple(contact.list_ids), contact.email_blacklisted)
        found[row.email] = Outcome(row.item, row.customer, row.action, "ok",
                                   contact_id=contact.id, mirror=mirror,
                                   message="; ".join(filter(None, ("bulk import", row.note))),
                                   sms_withheld=row.sms_withheld)
        if len(found) == len(wanted):
            break
    elapsed_ms = (time.perf_counter() - started) * 1000
    for outcome in found.values():
        outcome.ms = elapsed_ms
    missing = [r for r in rows if r.email not in found]
    return list(found.values()), missing


async def _modified_newest_first(client: BrevoClient, since: datetime) -> AsyncIterator[Contact]:
    """Contacts modified since `since`, newest-created first. A contact created meanwhile
    shifts the pages by one (a duplicate, skipped); one deleted meanwhile can hide one, which
    is then pushed on its own."""
    offset = 0
    while True:
        page, total = await client.list_contacts(limit=LIST_PAGE, offset=offset,
                                                 modified_since=since, sort="desc")
        for contact in page:
            yield contact
        offset += len(page)
        if len(page) < LIST_PAGE or offset >= total:
            return
