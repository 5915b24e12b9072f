"""`brevo-sync reconcile`: one sweep (brevo_sync/reconcile.py) run from a terminal.

A progress line on stderr while it runs, the first Ctrl-C stopping the pushes (the run is
still recorded), the result on stdout, and an exit code a script can act on.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from contextlib import suppress
from typing import Any

import structlog

from brevo_sync.config import Settings
from brevo_sync.logs import configure as configure_logs
from brevo_sync.reconcile import SweepResult, plan_sweep, run_sweep
from brevo_sync.wiring import client_from, pool_from

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_RUNNING = 0, 1, 3, 4


def exit_code(result: SweepResult) -> int:
    """0 when every push succeeded (a sweep cut by its budget included), 1 when rows or the
    sweep failed (Brevo refusing the account included), 3 when the safeguard refused, 4 when
    another sweep was running."""
    if result.status == "refused":
        return EXIT_REFUSED
    if result.status == "running":
        return EXIT_RUNNING
    return EXIT_OK if result.success else EXIT_FAILED


def progress_line(counts: dict[str, int], width: int = 24) -> str:
    """One line of progress for a terminal: the mirror listed, the drift queued, the pushes."""
    parts = [f"listed {counts.get('listed', 0):,}"]
    if "unsubscribed" in counts:
        parts.append(f"unsubscribed {counts['unsubscribed']:,}")
    if "drift_found" in counts:
        parts.append(f"drift {counts['drift_found']:,}")
    done = counts.get("synced", 0) + counts.get("failed", 0) + counts.get("retrying", 0)
    todo = done + counts.get("remaining", 0)
    if todo:
        filled = round(width * done / todo)
        parts.append(f"[{'#' * filled}{'-' * (width - filled)}] {done:,}/{todo:,} pushed")
    if counts.get("failed"):
        parts.append(f"{counts['failed']:,} failed")
    return " | ".join(parts)


class TerminalProgress:
    """Redraws one `\\r` line on a terminal, at most every `interval` seconds."""

    def __init__(self, stream: Any, interval: float = 0.1) -> None:
        self.stream = stream
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def __call__(self, counts: dict[str, int]) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        self._draw(progress_line(counts))

    def _draw(self, line: str) -> None:
        self._width = max(self._width, len(line))
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()

    def close(self, counts: dict[str, int] | None = None) -> None:
        if counts is not None:
            self._draw(progress_line(counts))
        if self._width:
            self.stream.write("\n")
            self.stream.flush()


def run_cli(settings: Settings, budget: float | None, *, as_json: bool = False) -> int:
    """`brevo-sync reconcile [--budget S] [--json]`: one sweep, a progress line on a
    terminal, the result on stdout (JSON with --json or when stdout is not a terminal)."""
    return asyncio.run(_run_cli(settings, budget, as_json))


def run_plan_cli(settings: Settings, *, as_json: bool = False) -> int:
    """`brevo-sync reconcile --dry-run [--json]`: the sweep's plan on stdout, readable (JSON
    with --json), nothing changed; exits 0, or 4 when a sweep is running."""
    return asyncio.run(_run_plan_cli(settings, as_json))


async def _run_plan_cli(settings: Settings, as_json: bool) -> int:
    async with pool_from(settings, "brevo-sync-reconcile") as pool, \
            client_from(settings) as client:
        planned = await plan_sweep(settings, pool, client)
    if isinstance(planned, SweepResult):
        print(json.dumps(planned.as_json(), default=str) if as_json
              else _text_summary(planned))
        return exit_code(planned)
    print(json.dumps(planned.as_json(), default=str) if as_json else planned.text())
    return EXIT_OK


async def _run_cli(settings: Settings, budget: float | None, as_json: bool) -> int:
    bar = TerminalProgress(sys.stderr) if sys.stderr.isatty() else None
    if bar is not None and structlog.get_logger().bind().get_effective_level() >= 20:
        # One log line per push would scroll the bar away; --log-level DEBUG keeps them.
        configure_logs("WARNING")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with suppress(NotImplementedError, RuntimeError):
        # The first Ctrl-C stops pushing and records the run; a second one stops at once.
        loop.add_signal_handler(signal.SIGINT, _stop_once, loop, stop)
    async with pool_from(settings, "brevo-sync-reconcile") as pool, \
            client_from(settings) as client:
        result = await run_sweep(settings, pool, client, source="cli", budget=budget,
                                 progress=bar, stop=stop)
    if bar is not None:
        bar.close({k: v for k, v in result.counts.items() if isinstance(v, int)})
    if sys.stdout.isatty() and not as_json:
        print(_text_summary(result))
    else:
        print(json.dumps(result.as_json(), default=str))
    return exit_code(result)


def _stop_once(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    stop.set()
    loop.remove_signal_handler(signal.SIGINT)


def _text_summary(result: SweepResult) -> str:
    lines = [f"{result.status}: {result.message}",
             f"synced {result.synced}, failed {result.failed}, remaining {result.remaining},"
             f" opted in {result.total} (run {result.run_id})"]
    failures = [r for r in result.results if not r.get("success")][:20]
    lines += [f"  {r.get('email') or r.get('customerId')}: {r.get('reason') or r.get('message')}"
              for r in failures]
    return "\n".join(lines)
