"""GET /api/cron/sync-brevo: Vercel Cron's hourly call, which runs one reconciliation sweep.

Only `Authorization: Bearer $CRON_SECRET` admits a caller, compared in constant time, and with
CRON_SECRET unset every call is refused (fail closed). `user-agent: vercel-cron/1.0`,
`x-vercel-cron` and `x-vercel-cron-schedule` are ordinary headers anyone can send: they count
for nothing. The Authorization header is never logged.

Vercel Cron sends GET and follows no redirect, so the route answers GET on this exact path,
and only GET: Starlette would answer HEAD with the GET handler, which here runs a sweep.
Answers: 200 with the sweep's result; 401 when not authorized; 409 when another sweep is
running, and when the safeguard refused a mass removal (an alarm the cron log should show as
a failed run); 502 when Brevo or the database failed mid-sweep; 503 when the sweep could
not start, or when Brevo refuses the account (a revoked key, no credits: pushing is paused).
"""

from __future__ import annotations

import hmac

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.sweep_answer import sweep_response
from brevo_sync.config import Secret, Settings
from brevo_sync.reconcile import run_sweep

log = structlog.get_logger("api.cron")

CRON_PATH = "/api/cron/sync-brevo"
_NO_STORE = {"cache-control": "no-store"}


def cron_authorized(authorization: str | None, secret: Secret | None) -> bool:
    """True only for `Bearer <secret>` with a secret configured."""
    if not secret:
        return False
    scheme, _, token = (authorization or "").partition(" ")
    # Starlette decodes header bytes as latin-1: encoding back gives the bytes as sent.
    sent = token.strip().encode("latin-1", errors="replace")
    expected = secret.reveal().encode()
    matches = hmac.compare_digest(sent, expected)
    return matches and scheme.lower() == "bearer"


async def sync_brevo(request: Request) -> Response:
    if request.method != "GET":
        raise HTTPException(405, headers={"Allow": "GET"})
    settings: Settings = request.app.state.settings
    if not cron_authorized(request.headers.get("authorization"), settings.cron_secret):
        log.warning("cron_refused", path=request.url.path,
                    reason="CRON_SECRET is not set" if not settings.cron_secret
                    else "missing or wrong bearer token",
                    user_agent=request.headers.get("user-agent"))
        return JSONResponse({"error": "unauthorized"}, status_code=401,
                            headers={"www-authenticate": "Bearer", **_NO_STORE})
    try:
        result = await run_sweep(settings, request.app.state.pool, request.app.state.brevo,
                                 source="cron", budget=settings.reconcile_budget_seconds)
    except Exception as exc:
        # The lock's connection or the database itself is unreachable.
        log.exception("cron_sweep_not_started")
        return JSONResponse(
            {"success": False, "error": f"the sweep could not start: {type(exc).__name__}"},
            status_code=503, headers=_NO_STORE)
    return sweep_response(result, headers=_NO_STORE)


cron_route = Route(CRON_PATH, sync_brevo, methods=["GET"])
