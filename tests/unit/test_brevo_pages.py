"""Brevo's offset pagination, walked one way (brevo_sync/brevo/pages.py): where it stops, and
what asking ahead leaves behind when the caller stops early."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from brevo_sync.brevo import BrevoError
from brevo_sync.brevo.pages import offset_pages

pytestmark = pytest.mark.anyio


class Listing:
    """`count` items, `total` of them announced, served `limit` at a time; the offsets asked."""

    def __init__(self, count: int, limit: int, total: int | None = None) -> None:
        self.items = list(range(count))
        self.limit = limit
        self.total = count if total is None else total
        self.asked: list[int] = []
        self.fail_at: int | None = None
        self.slow_at: int | None = None
        self.cancelled: list[int] = []

    async def fetch(self, offset: int) -> tuple[list[int], int]:
        self.asked.append(offset)
        try:
            await asyncio.sleep(60 if offset == self.slow_at else 0)
        except asyncio.CancelledError:
            self.cancelled.append(offset)
            raise
        if offset == self.fail_at:
            raise BrevoError("Brevo went away")
        return self.items[offset:offset + self.limit], self.total


@pytest.mark.parametrize(("count", "total", "asked"), [
    (0, None, [0]),              # an empty listing is one empty page
    (5, None, [0, 2, 4]),        # a short last page ends it
    (6, None, [0, 2, 4]),        # the announced total ends it: no empty page asked for
    (6, 4, [0, 2]),              # Brevo's total wins over what a page would still give
])
async def test_the_walk_stops_at_a_short_page_or_the_total(
        count: int, total: int | None, asked: list[int]) -> None:
    listing = Listing(count, limit=2, total=total)
    pages = [page async for page in offset_pages(listing.fetch, 2)]
    assert listing.asked == asked
    assert [i for p in pages for i in p.items] == listing.items[:sum(len(p.items) for p in pages)]
    assert all(p.total == listing.total for p in pages)
    assert [p.asked_at for p in pages] == sorted(p.asked_at for p in pages)


async def test_asking_ahead_fetches_the_next_page_while_the_caller_works() -> None:
    listing = Listing(6, limit=2)
    seen: list[list[int]] = []
    async for _page in offset_pages(listing.fetch, 2, prefetch=True):
        await asyncio.sleep(0.01)  # the caller writing its page
        seen.append(list(listing.asked))
    assert seen == [[0, 2], [0, 2, 4], [0, 2, 4]]


@pytest.mark.parametrize("ahead", ["slow", "failing"])
async def test_a_caller_stopping_early_leaves_no_page_asked_for_nor_its_error(ahead: str) -> None:
    listing = Listing(10, limit=2)
    if ahead == "slow":
        listing.slow_at = 2      # still being asked for when the caller stops: cancelled
    else:
        listing.fail_at = 2      # failed meanwhile: its error is read, not raised nor lost
    walk = offset_pages(listing.fetch, 2, prefetch=True)
    async with aclosing(walk):
        async for page in walk:
            assert page.items == [0, 1]
            await asyncio.sleep(0.01)  # long enough for the page asked ahead to start
            break
    assert listing.asked == [0, 2]
    assert listing.cancelled == ([2] if ahead == "slow" else [])
