"""What stands in front of every /v3 call, in Brevo's order: auth, then the injected faults and
rate limits (storm → rate limit → 5xx → time-out → latency), then the handler.

It also counts every /v3 call by (method, path template, status) and adds the
x-sib-ratelimit-* headers to every /v3 answer. Plain ASGI, so it wraps responses of any kind.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brevo_sync.emulator.config import ACCOUNT_REFUSALS, EmulatorConfig
from brevo_sync.emulator.faults import EmulatedRateLimits, FaultInjector, Quota, limit_group
from brevo_sync.emulator.store import ContactStore

UNMATCHED = "<unmatched>"
Calls = Counter[tuple[str, str, int]]

# Injected 5xx imitate what sits in front of Brevo (Cloudflare, envoy), so they are not JSON.
_GATEWAY_BODIES = {
    502: (b"text/html", b"<html><body><h1>502 Bad Gateway</h1>cloudflare</body></html>"),
    503: (b"text/plain", b"upstream connect error or disconnect/reset before headers"),
    504: (b"text/html", b"<html><body><h1>504 Gateway Time-out</h1>cloudflare</body></html>"),
}


class BrevoGateway:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[BaseRoute],
        store: ContactStore,
        config: Callable[[], EmulatorConfig],
        calls: Calls,
        limiter: EmulatedRateLimits,
        faults: FaultInjector,
    ) -> None:
        self.app = app
        self._routes = routes
        self._store = store
        self._config = config
        self._calls = calls
        self._limiter = limiter
        self._faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Finished imports become visible before anything else looks at the account.
        self._store.settle()
        path: str = scope["path"]
        if path != "/v3" and not path.startswith("/v3/"):
            await self.app(scope, receive, send)
            return
        template = self._template(scope)
        status: list[int] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self._guarded(scope, receive, recording_send, path)
        finally:
            self._calls[(scope["method"], template, status[0] if status else 499)] += 1

    def _template(self, scope: Scope) -> str:
        for route in self._routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return str(getattr(route, "path", UNMATCHED))
        return UNMATCHED

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        config = self._config()
        group = limit_group(path)
        refusal = _auth_refusal(scope, config) or _ip_refusal(scope, config)
        if refusal is not None:
            await _json(send, 401, refusal, self._limiter.peek(group, config))
            return
        if config.account_refusal is not None:
            status, code, message = ACCOUNT_REFUSALS[config.account_refusal]
            await _json(send, status, {"code": code, "message": message},
                        self._limiter.peek(group, config))
            return
        storm_left = self._faults.storm_seconds_left(config)
        if storm_left > 0:
            limit = self._limiter.peek(group, config).limit
            await _too_many(send, Quota(False, limit, 0, max(1, math.ceil(storm_left))))
            return
        quota = self._limiter.acquire(group, config)
        if not quota.allowed:
            await _too_many(send, quota)
            return
        await self._faulty_or_handled(scope, receive, send, config, quota)

    async def _faulty_or_handled(
        self, scope: Scope, receive: Receive, send: Send, config: EmulatorConfig, quota: Quota
    ) -> None:
        error = self._faults.server_error(config)
        if error is not None:
            await _gateway_error(send, error, quota)
            return
        if self._faults.times_out(config):
            await asyncio.sleep(config.timeout_seconds)
            await _gateway_error(send, 504, quota)
            return
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *quota.headers()]}
            await send(message)

        await self.app(scope, receive, send_with_quota)


def _auth_refusal(scope: Scope, config: EmulatorConfig) -> dict[str, str] | None:
    keys = [value for name, value in scope["headers"] if name == b"api-key"]
    if not keys or not keys[0].strip():
        return {"message": "authentication not found in headers", "code": "unauthorized"}
    key = keys[0].decode("latin-1")
    if (config.api_key is not None and key != config.api_key) or key in config.revoked_keys:
        return {"code": "unauthorized", "message": "Key not found"}
    return None


def _ip_refusal(scope: Scope, config: EmulatorConfig) -> dict[str, str] | None:
    """Brevo's answer to a valid key used from an address outside "Authorized IPs"."""
    if config.authorized_ips is None:
        return None
    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    if address in config.authorized_ips:
        return None
    return {
        "code": "unauthorized",
        "message": f"We have detected you are using an unrecognised IP address {address}. If"
        " you performed this action make sure to add the new IP address in this link:"
        " https://app.brevo.com/security/authorised_ips",
    }


async def _too_many(send: Send, quota: Quota) -> None:
    await _json(send, 429, {"code": "too_many_requests", "message": "Too Many Requests"}, quota)


async def _json(send: Send, status: int, body: dict[str, Any], quota: Quota) -> None:
    await _respond(send, status, b"application/json", json.dumps(body).encode(), quota)


async def _gateway_error(send: Send, status: int, quota: Quota) -> None:
    content_type, body = _GATEWAY_BODIES[status]
    await _respond(send, status, content_type, body, quota)


async def _respond(send: Send, status: int, content_type: bytes, body: bytes, quota: Quota) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *quota.headers(),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
