"""Stopping well: signals set a stop event; the main task gets a deadline to finish its pushes.

First SIGTERM/SIGINT: claim nothing new, let in-flight pushes finish (the engine releases the
leases it did not push). Past the deadline, or on a second signal, the task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Iterator
from typing import Any

import structlog

STOP_DEADLINE_SECONDS = 8.0  # inside Docker's default 10 s stop grace
SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = structlog.get_logger("listener.lifecycle")


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, hurry: asyncio.Event) -> Iterator[None]:
    """While inside, the first signal sets `stop` and a second one sets `hurry`."""
    loop = asyncio.get_running_loop()

    def received(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("listener_stop_forced", signal=sig.name)
            hurry.set()
        else:
            log.info("listener_stopping", signal=sig.name)
            stop.set()

    for sig in SIGNALS:
        loop.add_signal_handler(sig, received, sig)
    try:
        yield
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


async def run_until_stopped(
    main: Coroutine[Any, Any, None],
    stop: asyncio.Event,
    hurry: asyncio.Event | None = None,
    deadline: float = STOP_DEADLINE_SECONDS,
) -> bool:
    """Run `main` until it returns; once `stop` is set, give it `deadline` seconds (less if
    `hurry` is set), then cancel it. True when it finished on its own."""
    task = asyncio.create_task(main, name="listener-loop")
    hurry = hurry or asyncio.Event()
    stopped = asyncio.create_task(stop.wait(), name="listener-stop")
    hurried = asyncio.create_task(hurry.wait(), name="listener-hurry")
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait(
                {task, hurried}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
            )
        finished = task.done()
        if not finished:
            log.warning("listener_stop_deadline", seconds=deadline, hurried=hurry.is_set())
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return finished
    finally:
        stopped.cancel()
        hurried.cancel()
