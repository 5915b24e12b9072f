"""Wiring shared by the CLI, the listener and the API: settings in, client, pool, engine out."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

import httpx

from brevo_sync.brevo import BrevoClient, RateLimiter, RateLimits
from brevo_sync.config import Settings
from brevo_sync.db import Pool, make_pool
from brevo_sync.decide import Policy
from brevo_sync.engine import Engine
from brevo_sync.outcome import Outcome
from brevo_sync.preflight import Preflight, ensure_ready


def policy_from(settings: Settings) -> Policy:
    return Policy(
        list_id=settings.brevo_list_id,
        opt_out_action=settings.opt_out_action,
        delete_action=settings.delete_action,
        phone_region=settings.phone_default_region,
        attributes=settings.attribute_names,
    )


def limiter_from(settings: Settings) -> RateLimiter:
    return RateLimiter(RateLimits(
        contacts_per_second=settings.contacts_per_second,
        contacts_per_hour=settings.contacts_per_hour,
        other_per_hour=settings.other_per_hour,
    ))


def client_from(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None,
                limiter: RateLimiter | None = None,
                on_response: Callable[[str, int, float], None] | None = None) -> BrevoClient:
    return BrevoClient(
        settings.require_brevo_key().reveal(),
        settings.brevo_base_url,
        limiter=limiter or limiter_from(settings),
        transport=transport,
        timeout=settings.brevo_timeout_seconds,
        on_response=on_response,
    )


# The clients Brevo was prepared through, with the settings it was prepared for: a client
# prepared once (at a process's start, by the admin's first push, by a sweep) is not checked
# again. A failed preparation is not remembered: the next call checks again.
_prepared: weakref.WeakKeyDictionary[BrevoClient, dict[Settings, Preflight]] = \
    weakref.WeakKeyDictionary()
_preparing: weakref.WeakKeyDictionary[BrevoClient, asyncio.Lock] = weakref.WeakKeyDictionary()


async def prepare_brevo(client: BrevoClient, settings: Settings | None = None) -> Preflight:
    """The preflight checks (brevo_sync/preflight.py), once per client and settings, however
    many callers ask at once: creates the attributes the sync writes when missing; raises
    PreflightError on a setup problem, the BrevoError when Brevo cannot be reached or refuses
    the key."""
    settings = settings or Settings()
    async with _preparing.setdefault(client, asyncio.Lock()):
        done = _prepared.setdefault(client, {})
        if settings not in done:
            done[settings] = await ensure_ready(client, settings)
        return done[settings]


def brevo_prepared(client: BrevoClient, settings: Settings) -> bool:
    """Whether prepare_brevo has succeeded for this client and these settings."""
    return settings in _prepared.get(client, {})


def pool_from(settings: Settings, application_name: str, max_size: int = 4
              ) -> Pool:
    return make_pool(settings.require_database(), application_name, max_size=max_size)


def engine_from(settings: Settings, pool: Pool, client: BrevoClient, *,
                source: str, run_id: int | None = None, keep_outcomes: bool = False,
                on_outcome: Callable[[Outcome], None] | None = None) -> Engine:
    return Engine(pool, client, policy_from(settings), source=source,
                  bulk_threshold=settings.bulk_threshold, run_id=run_id,
                  keep_outcomes=keep_outcomes, on_outcome=on_outcome)
