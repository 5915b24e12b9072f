"""Brevo's webhooks in the emulator: registered through /v3/webhooks (createWebhook,
getWebhooks, getWebhook, updateWebhook, deleteWebhook) and delivered when a contact is
unsubscribed, blocklisted, bounced, updated or deleted through the control routes.

Deliveries go out in a background task with httpx, carrying the webhook's bearer token, in
the payload shapes of Brevo's "Marketing webhooks" page: `ts_event` in UTC seconds and
`date_event` in another time zone (so a receiver that orders by it is caught), contact
events with `ts` only. Switches (EmulatorConfig): `webhook_delay_ms` holds events that long
before sending, `webhook_duplicates` sends every delivery that many extra times,
`webhook_reorder` sends the held events newest first. Every attempt is kept in
`deliveries` (status, or the error), for tests to read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brevo_sync.emulator import errors
from brevo_sync.emulator.config import EmulatorConfig
from brevo_sync.emulator.endpoint import json_body, path_int
from brevo_sync.emulator.store import StoredContact

TYPES = ("transactional", "marketing", "inbound")
MARKETING_EVENTS = frozenset({"spam", "opened", "click", "hardBounce", "softBounce",
                              "unsubscribed", "listAddition", "delivered", "contactUpdated",
                              "contactDeleted"})
# The payload's `event` for each event a webhook subscribes to.
PAYLOAD_NAMES = {"unsubscribed": "unsubscribe", "spam": "spam", "hardBounce": "hard_bounce",
                 "listAddition": "list_addition", "contactUpdated": "contact_updated",
                 "contactDeleted": "contact_deleted"}
# `date_event` is the account's local time: Paris in winter, here.
LOCAL = timezone(timedelta(hours=1))
DELIVERY_TIMEOUT = 10.0
FIRST_ID = 1000


@dataclass
class Webhook:
    id: int
    url: str
    events: list[str]
    type: str
    description: str
    batched: bool
    auth: dict[str, str] | None
    headers: list[dict[str, str]] | None
    created: str
    modified: str

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "url": self.url, "description": self.description,
            "events": list(self.events), "type": self.type, "channel": "email",
            "batched": self.batched, "createdAt": self.created, "modifiedAt": self.modified}
        if self.auth:
            body["auth"] = dict(self.auth)
        if self.headers:
            body["headers"] = list(self.headers)
        return body


@dataclass
class Delivery:
    webhook_id: int
    events: list[dict[str, Any]]
    status: int | None = None
    error: str | None = None


@dataclass
class Webhooks:
    """The account's webhooks and what was delivered."""

    # Read at delivery time: PATCH /_emulator/config edits it, tests may replace it.
    config: Callable[[], EmulatorConfig]
    hooks: dict[int, Webhook] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    transport: httpx.AsyncBaseTransport | None = None
    _next_id: int = FIRST_ID
    _held: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _flusher: asyncio.Task[None] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # One client for every delivery: building one costs an SSL context, tens of milliseconds.
    _http: httpx.AsyncClient | None = None
    _http_transport: httpx.AsyncBaseTransport | None = None

    def create(self, body: dict[str, Any]) -> Webhook:
        now = _now_iso()
        hook = Webhook(self._next_id, "", [], "transactional", "", False, None, None, now, now)
        self._next_id += 1
        _apply(hook, body, creating=True)
        self.hooks[hook.id] = hook
        return hook

    def reset(self) -> None:
        self.hooks.clear()
        self.deliveries.clear()
        self._held.clear()

    # --- delivery ---------------------------------------------------------------------

    def emit(self, event: str, contact: StoredContact | None, email: str | None,
             **extra: Any) -> None:
        """Queue `event` (a webhook event name, e.g. "unsubscribed") about a contact for every
        marketing webhook subscribed to it. Needs a running event loop (a request's)."""
        address = email or (contact.email if contact else None)
        if address is None or not any(
                h.type == "marketing" and event in h.events for h in self.hooks.values()):
            return
        self._held.append((event, payload(event, address, **extra)))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    @property
    def busy(self) -> bool:
        """Whether deliveries are held or being sent (tests poll it with a deadline)."""
        return bool(self._held or (self._flusher and not self._flusher.done()) or self._tasks)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.config().webhook_delay_ms / 1000.0)
        held, self._held = self._held, []
        if self.config().webhook_reorder:
            held.reverse()
        for hook in list(self.hooks.values()):
            mine = [dict(body, id=hook.id) for event, body in held
                    if hook.type == "marketing" and event in hook.events]
            if not mine:
                continue
            batches = [mine] if hook.batched else [[body] for body in mine]
            task = asyncio.get_running_loop().create_task(self._send_all(hook, batches))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_all(self, hook: Webhook, batches: list[list[dict[str, Any]]]) -> None:
        headers = {"content-type": "application/json", "user-agent": "Brevo-Webhook (emulator)"}
        if hook.auth and hook.auth.get("type", "").lower() == "bearer":
            headers["authorization"] = f"Bearer {hook.auth.get('token', '')}"
        for item in hook.headers or []:
            headers[item["key"]] = item["value"]
        http = self._client()
        for batch in batches:
            for _ in range(1 + self.config().webhook_duplicates):
                await self._send(http, hook, batch, headers)

    def _client(self) -> httpx.AsyncClient:
        # A test may swap `transport` between deliveries: a new one takes a new client.
        if self._http is None or self._http_transport is not self.transport:
            self._http = httpx.AsyncClient(transport=self.transport, timeout=DELIVERY_TIMEOUT)
            self._http_transport = self.transport
        return self._http

    async def _send(self, http: httpx.AsyncClient, hook: Webhook,
                    batch: list[dict[str, Any]], headers: dict[str, str]) -> None:
        delivery = Delivery(hook.id, batch)
        self.deliveries.append(delivery)
        body: Any = batch if hook.batched else batch[0]
        try:
            response = await http.post(hook.url, json=body, headers=headers)
            delivery.status = response.status_code
        except httpx.HTTPError as exc:
            delivery.error = type(exc).__name__


def payload(event: str, email: str, *, at: float | None = None, list_ids: list[int] | None = None,
            camp_id: int = 1, reason: str | None = None,
            content: dict[str, Any] | None = None) -> dict[str, Any]:
    """One event as Brevo's marketing webhooks send it (the webhook's id is added on sending)."""
    ts = int(at if at is not None else time.time())
    name = PAYLOAD_NAMES[event]
    local = datetime.fromtimestamp(ts, LOCAL).strftime("%Y-%m-%d %H:%M:%S")
    if event in ("contactUpdated", "contactDeleted", "listAddition"):
        body: dict[str, Any] = {"email": email, "event": name, "key": "emulator",
                                "date": local, "ts": ts}
        if event == "contactUpdated":
            body["content"] = [content or {}]
        if event == "listAddition":
            body["list_id"] = list_ids or []
        return body
    body = {"camp_id": camp_id, "email": email, "campaign name": "Emulated campaign",
            "date_sent": local, "date_event": local, "event": name, "tag": "",
            "ts_sent": ts, "ts_event": ts, "ts": ts + 3600}
    if list_ids:
        body["list_id"] = list_ids
    if reason:
        body["reason"] = reason
    return body


# --- /v3/webhooks --------------------------------------------------------------------------


def webhooks_of(request: Request) -> Webhooks:
    hooks: Webhooks = request.app.state.webhooks
    return hooks


async def get_webhooks(request: Request) -> Response:
    kind = request.query_params.get("type", "transactional")
    if kind not in TYPES:
        raise errors.invalid("type is not valid")
    sort = request.query_params.get("sort", "desc")
    if sort not in ("asc", "desc"):
        raise errors.invalid("sort is not valid")
    hooks = sorted((h for h in webhooks_of(request).hooks.values() if h.type == kind),
                   key=lambda h: h.id, reverse=sort == "desc")
    return JSONResponse({"webhooks": [h.as_json() for h in hooks]})


async def create_webhook(request: Request) -> Response:
    body, _ = await json_body(request)
    hook = webhooks_of(request).create(body)
    return JSONResponse({"id": hook.id}, status_code=201)


async def get_webhook(request: Request) -> Response:
    return JSONResponse(_hook(request).as_json())


async def update_webhook(request: Request) -> Response:
    hook = _hook(request)
    body, _ = await json_body(request)
    _apply(hook, body, creating=False)
    hook.modified = _now_iso()
    return Response(status_code=204)


async def delete_webhook(request: Request) -> Response:
    hook = _hook(request)
    del webhooks_of(request).hooks[hook.id]
    return Response(status_code=204)


def _hook(request: Request) -> Webhook:
    hook_id = path_int(request, "webhookId", "Webhook not found")
    hook = webhooks_of(request).hooks.get(hook_id)
    if hook is None:
        raise errors.not_found("Webhook not found")
    return hook


def _apply(hook: Webhook, body: dict[str, Any], *, creating: bool) -> None:
    """Validate everything first, so a refused body changes nothing."""
    changes: dict[str, Any] = {}
    if creating or "url" in body:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise (errors.missing if url is None else errors.invalid)("url is not valid")
        changes["url"] = url
    if creating:
        kind = body.get("type", "transactional")
        if kind not in TYPES:
            raise errors.invalid("type is not valid")
        changes["type"] = kind
    if creating or "events" in body:
        events = body.get("events")
        if not isinstance(events, list) or not events or not all(
                isinstance(e, str) for e in events):
            raise errors.missing("events is missing") if events is None else errors.invalid(
                "events is not valid")
        allowed = MARKETING_EVENTS if changes.get("type", hook.type) == "marketing" else None
        if allowed is not None and set(events) - allowed:
            raise errors.invalid(f"Invalid events: {', '.join(sorted(set(events) - allowed))}")
        changes["events"] = list(dict.fromkeys(events))
    for name, kind_of in (("description", str), ("batched", bool)):
        if name in body:
            if not isinstance(body[name], kind_of):
                raise errors.invalid(f"{name} is not valid")
            changes[name] = body[name]
    if "auth" in body:
        auth = body["auth"]
        if not isinstance(auth, dict) or not all(isinstance(v, str) for v in auth.values()):
            raise errors.invalid("auth is not valid")
        changes["auth"] = dict(auth)
    if "headers" in body:
        headers = body["headers"]
        if not isinstance(headers, list) or not all(
                isinstance(h, dict) and isinstance(h.get("key"), str)
                and isinstance(h.get("value"), str) for h in headers):
            raise errors.invalid("headers is not valid")
        changes["headers"] = [{"key": h["key"], "value": h["value"]} for h in headers]
    for name, value in changes.items():
        setattr(hook, name, value)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

