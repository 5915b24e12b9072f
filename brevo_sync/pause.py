"""Account failures: while Brevo refuses the account, pushing pauses; a probe ends the pause.

    a call answered 401 / 402 / 403 (BrevoAccountError)
      -> the engine gives its leases back untouched and raises it: no row is blamed
      -> the caller records the pause once (brevo_sync.account_pause) and logs it as an error
      -> the listener probes with backoff (GET /contacts?limit=1: the contacts budget of
         10/s, not the 100/h of "other" paths); the sweep and the admin's buttons answer
         "paused", and their next call tries again
      -> the first answer that is not a refusal clears the record; pushing resumes

The record is the deployment's to see (`status`, /readyz, the admin page); the pause itself
belongs to the process that was refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import structlog

from brevo_sync.brevo import BrevoClient
from brevo_sync.brevo.errors import BrevoAccountError, BrevoError
from brevo_sync.brevo.retry import equal_jitter_delay
from brevo_sync.db import Pool, q

log = structlog.get_logger("brevo_sync.pause")
# How often a pause says again, at error level, that Brevo still refuses the account.
STILL_REFUSED_EVERY = 60.0

PROBE_BASE_SECONDS = 2.0
# A key enabled again is noticed within this; at most 120 probes an hour, next to nothing
# in the 36,000 an hour of the contacts budget.
PROBE_CAP_SECONDS = 30.0


def probe_delay(
    failures: int,
    *,
    base: float = PROBE_BASE_SECONDS,
    cap: float = PROBE_CAP_SECONDS,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next probe after ``failures`` refusals in a row (1-based)."""
    return equal_jitter_delay(failures, base=base, cap=cap, rng=rng)


@dataclass(frozen=True)
class Refusal:
    """The recorded pause: Brevo's reason (never the key), since when, seen how often."""

    since: datetime
    status: int
    code: str | None
    reason: str
    source: str
    last_refused_at: datetime
    refusals: int

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "status": self.status,
            "code": self.code,
            "reason": self.reason,
            "source": self.source,
            "last_refused_at": self.last_refused_at.isoformat(),
            "refusals": self.refusals,
        }

    @property
    def message(self) -> str:
        return (f"Brevo refuses the account ({self.reason}); pushing is paused since "
                f"{self.since.isoformat(timespec='seconds')} and resumes by itself when "
                "Brevo answers again")


async def read_refusal(conn: psycopg.AsyncConnection[Any]) -> Refusal | None:
    row = await (await conn.execute(q("pause_read"))).fetchone()
    return Refusal(**row) if row else None


async def note_refused(pool: Pool, err: BrevoAccountError, *, source: str) -> None:
    """Record the refusal and say so at error level. A database that cannot take the record
    does not hide the refusal: the log line is written either way."""
    log.error("brevo_account_refused", status=err.status, code=err.code, reason=str(err),
              source=source)
    try:
        await _record(pool, err, source)
    except psycopg.Error as exc:
        log.warning("brevo_account_refusal_not_saved", error=str(exc))


async def note_accepted(pool: Pool, *, source: str) -> Refusal | None:
    """Brevo answered: clear any recorded pause; returns it, when there was one."""
    try:
        async with pool.connection() as conn:
            row = await (await conn.execute(q("pause_clear"))).fetchone()
    except psycopg.Error as exc:
        log.warning("brevo_account_resume_not_saved", error=str(exc))
        return None
    if row is None:
        return None
    ended = Refusal(**row)
    log.warning("brevo_account_accepted", source=source, paused_since=ended.since.isoformat(),
                refused=ended.reason, refusals=ended.refusals)
    return ended


async def _record(pool: Pool, err: BrevoAccountError, source: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(q("pause_record"), {
            "status": err.status, "code": err.code, "reason": str(err), "source": source})


async def probe(client: BrevoClient) -> None:
    """The cheapest call that proves the key works for contacts: one contact, or none."""
    await client.list_contacts(limit=1)


class AccountPause:
    """A long-running process's pause: entered on a refusal, left when a probe is answered.

    Refusals in a row keep growing the probe delay across pauses until a push goes through
    (`proved`), so a key that may read but not write cannot make the process flap quickly.
    """

    def __init__(
        self,
        pool: Pool,
        client: BrevoClient,
        *,
        source: str,
        on_change: Callable[[BrevoAccountError | None], None] | None = None,
        on_probe: Callable[[], None] | None = None,
        delay: Callable[[int], float] = probe_delay,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.client = client
        self.source = source
        self.on_change = on_change
        self.on_probe = on_probe
        self.delay = delay
        self.clock = clock
        self.failures = 0
        self.refusal: BrevoAccountError | None = None

    def proved(self) -> None:
        """A push went through: the next pause starts probing from the shortest delay."""
        self.failures = 0

    async def wait_out(self, err: BrevoAccountError, stop: asyncio.Event) -> bool:
        """Pause until a probe is answered (True) or `stop` is set (False)."""
        began = said = self.clock()
        self._set(err)
        await note_refused(self.pool, err, source=self.source)
        while not stop.is_set():
            if self.clock() - said >= STILL_REFUSED_EVERY:
                # Said once a minute at error level: a pause nobody reads of is an outage.
                said = self.clock()
                log.error("brevo_account_still_refused", source=self.source,
                          waiting_for="Brevo to accept BREVO_API_KEY", reason=str(self.refusal),
                          paused_seconds=round(said - began, 3))
            self.failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.delay(self.failures))
            if stop.is_set():
                break
            answered = await self._probe()
            if self.on_probe is not None:
                self.on_probe()
            if answered:
                await note_accepted(self.pool, source=self.source)
                log.warning("brevo_account_resumed", source=self.source,
                            paused_seconds=round(self.clock() - began, 3))
                self._set(None)
                return True
        return False

    async def _probe(self) -> bool:
        try:
            await probe(self.client)
        except BrevoAccountError as exc:
            log.info("brevo_account_probe_refused", reason=str(exc), failures=self.failures)
            if str(exc) != str(self.refusal):
                await note_refused(self.pool, exc, source=self.source)
                self._set(exc)
            else:
                await self._save_quietly(exc)
            return False
        except BrevoError as exc:
            # Not answered at all (5xx, network): the account's state is unknown; stay paused.
            log.info("brevo_account_probe_unanswered", error=str(exc), failures=self.failures)
            return False
        return True

    async def _save_quietly(self, err: BrevoAccountError) -> None:
        try:
            await _record(self.pool, err, self.source)
        except psycopg.Error as exc:
            log.debug("brevo_account_refusal_not_saved", error=str(exc))

    def _set(self, err: BrevoAccountError | None) -> None:
        self.refusal = err
        if self.on_change is not None:
            self.on_change(err)
