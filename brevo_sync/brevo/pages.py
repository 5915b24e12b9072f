"""Brevo's offset pagination, walked one way everywhere: the mirror's listing, the importer's
look for contacts it created, the list names.

A page is asked for at `offset` with a `limit`; Brevo answers the items and how many match in
all. The walk stops at a short page or once that many were seen. A contact created or deleted
meanwhile shifts the pages by one: the callers say what that costs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from brevo_sync.brevo.errors import BrevoError
from brevo_sync.brevo.models import Contact

if TYPE_CHECKING:
    from brevo_sync.brevo.client import BrevoClient

T = TypeVar("T")
# (offset) -> (the page's items, how many match in all)
Fetch = Callable[[int], Awaitable[tuple[list[T], int]]]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int               # how many match in all, as Brevo said with this page
    asked_at: datetime       # when the page was asked for: it is news from that moment


async def offset_pages(fetch: Fetch[T], page_size: int, *,
                       prefetch: bool = False) -> AsyncGenerator[Page[T], None]:
    """Every page, first to last. With `prefetch` the next page is asked for while the
    caller handles this one, so a listing runs at the rate limiter's pace; a caller that may
    stop early closes the walk (contextlib.aclosing) so the page asked for meanwhile is
    dropped, its error, if any, read so that it is not reported as lost."""

    async def ask(offset: int) -> Page[T]:
        asked_at = datetime.now(UTC)
        items, total = await fetch(offset)
        return Page(items, total, asked_at)

    offset = 0
    ahead: asyncio.Task[Page[T]] | None = None
    try:
        page = await ask(0)
        while True:
            offset += len(page.items)
            more = len(page.items) == page_size and offset < page.total
            if more and prefetch:
                ahead = asyncio.create_task(ask(offset))
            yield page
            if not more:
                return
            if ahead is None:
                page = await ask(offset)
            else:
                page, ahead = await ahead, None
    finally:
        if ahead is not None:
            ahead.cancel()
            with suppress(asyncio.CancelledError, BrevoError):
                await ahead


def contact_pages(client: BrevoClient, page_size: int, *,
                  modified_since: datetime | None = None,
                  sort: Literal["asc", "desc"] = "asc",
                  prefetch: bool = False) -> AsyncGenerator[Page[Contact], None]:
    """GET /contacts, page by page (modified since `modified_since`, or all)."""

    async def fetch(offset: int) -> tuple[list[Contact], int]:
        return await client.list_contacts(limit=page_size, offset=offset,
                                          modified_since=modified_since, sort=sort)

    return offset_pages(fetch, page_size, prefetch=prefetch)
