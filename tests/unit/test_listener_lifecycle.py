"""Stopping: the main task gets a deadline once asked to stop, then is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from listener.lifecycle import run_until_stopped

pytestmark = pytest.mark.anyio


async def test_a_task_that_ends_by_itself_is_not_cancelled() -> None:
    stop = asyncio.Event()

    async def main() -> None:
        await stop.wait()

    asyncio.get_running_loop().call_soon(stop.set)
    assert await run_until_stopped(main(), stop, deadline=5) is True


async def test_past_the_deadline_the_task_is_cancelled() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_soon(stop.set)
    assert await run_until_stopped(stubborn(), stop, deadline=0.05) is False
    assert cancelled.is_set()


async def test_hurry_cuts_the_deadline_short() -> None:
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_soon(stop.set)
    loop.call_later(0.05, hurry.set)
    started = loop.time()
    assert await run_until_stopped(asyncio.Event().wait(), stop, hurry, deadline=30) is False
    assert loop.time() - started < 5


async def test_an_error_in_the_task_is_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await run_until_stopped(broken(), asyncio.Event())
