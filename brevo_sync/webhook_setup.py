"""`brevo-sync webhooks install | status | remove`: the marketing webhook that brings Brevo's
unsubscribes, complaints, bounces and contact changes to POST /api/webhooks/brevo.

Install is idempotent: a webhook of ours already registered for the URL is updated (events,
token), never registered twice. "Ours" is a marketing webhook whose description carries
DESCRIPTION, or whose URL is the one given. The token is BREVO_WEBHOOK_SECRET: Brevo sends it
as `Authorization: Bearer …`; it is never printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from brevo_sync.brevo import BrevoClient
from brevo_sync.config import Secret
from brevo_sync.db import Pool, q

EVENTS = ("unsubscribed", "hardBounce", "spam", "listAddition", "contactUpdated",
          "contactDeleted")
DESCRIPTION = "brevo-sync: unsubscribes, complaints, bounces and contact changes"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class SetupError(ValueError):
    """A refusal the command prints as it is."""


def checked_url(url: str) -> str:
    """The URL Brevo will call: https, or http to this machine (for trying it locally)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise SetupError(f"not a URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(f"not an http(s) URL: {url!r}")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise SetupError("the webhook URL must be https (Brevo sends the bearer token in it);"
                         " http is taken only for localhost and 127.0.0.1")
    return url.strip()


def definition(url: str, secret: Secret | None) -> dict[str, Any]:
    if not secret:
        raise SetupError("BREVO_WEBHOOK_SECRET is not set: the route would refuse every"
                         " delivery. Set it (here and where the API runs), then install")
    return {"url": url, "description": DESCRIPTION, "events": list(EVENTS),
            "type": "marketing", "batched": True,
            "auth": {"type": "bearer", "token": secret.reveal()}}


def ours(webhooks: Sequence[dict[str, Any]], url: str | None = None) -> list[dict[str, Any]]:
    """The marketing webhooks brevo-sync registered (or, given `url`, those for that URL)."""
    if url is not None:
        return [w for w in webhooks if w.get("url") == url]
    return [w for w in webhooks if w.get("description") == DESCRIPTION]


async def install(client: BrevoClient, url: str, secret: Secret | None) -> tuple[str, int]:
    """("created" | "updated", webhook id)."""
    body = definition(checked_url(url), secret)
    existing = ours(await client.list_webhooks("marketing"), body["url"])
    if existing:
        first, *extra = sorted(existing, key=lambda w: int(w["id"]))
        update = {k: v for k, v in body.items() if k != "type"}
        await client.update_webhook(int(first["id"]), update)
        for duplicate in extra:  # left by an earlier tool or by hand: one is enough
            await client.delete_webhook(int(duplicate["id"]))
        return "updated", int(first["id"])
    return "created", await client.create_webhook(body)


async def remove(client: BrevoClient, url: str | None) -> list[int]:
    """Remove ours (for `url`, or all of ours); returns the ids removed."""
    removed = []
    for hook in ours(await client.list_webhooks("marketing"), url):
        if await client.delete_webhook(int(hook["id"])):
            removed.append(int(hook["id"]))
    return removed


async def last_delivery(pool: Pool) -> dict[str, Any]:
    async with pool.connection() as conn:
        row = await (await conn.execute(q("webhook_last_delivery"))).fetchone()
    last: datetime | None = row["last_received_at"] if row else None
    return {"last_received_at": last.isoformat() if last else None,
            "events": int(row["events"]) if row else 0,
            "events_last_day": int(row["last_day"]) if row else 0}


def status_lines(hooks: Sequence[dict[str, Any]], delivery: dict[str, Any]) -> list[str]:
    if not hooks:
        return ["no brevo-sync webhook registered in Brevo"
                " (brevo-sync webhooks install --url https://…/api/webhooks/brevo)"]
    last = delivery["last_received_at"] or "never"
    lines = []
    for hook in hooks:
        mine = " (brevo-sync)" if hook.get("description") == DESCRIPTION else ""
        lines.append(f"webhook {hook.get('id')}{mine}: {hook.get('url')}")
        auth = (hook.get("auth") or {}).get("type", "none")
        lines.append(f"  events: {', '.join(hook.get('events') or [])};"
                     f" batched: {bool(hook.get('batched'))}; auth: {auth}")
        lines.append(f"  last delivery received: {last}"
                     f" ({delivery['events_last_day']} events in the last 24 h)")
    return lines


def shown(hook: dict[str, Any]) -> dict[str, Any]:
    """A webhook as printed: its token never."""
    return {k: v for k, v in hook.items() if k not in ("auth", "headers")} | {
        "auth": (hook.get("auth") or {}).get("type")}
