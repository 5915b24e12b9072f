"""`brevo-sync serve`: the app under uvicorn."""

from __future__ import annotations

import asyncio

import structlog
import uvicorn

from api.app import create_app
from brevo_sync.brevo import BrevoError
from brevo_sync.config import ConfigError, Settings
from brevo_sync.wiring import client_from, prepare_brevo

log = structlog.get_logger("api.server")

# The throttle slows guessing per process and per client, it does not stop it: a password
# short enough to be guessed anyway is refused at start.
MIN_ADMIN_PASSWORD_LENGTH = 12


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve until interrupted. Refuses to start without an admin password, or with a short
    one: the pages show every customer, and no default password is safe."""
    if not settings.admin_password:
        raise ConfigError(
            "ADMIN_PASSWORD is not set: the admin pages need a password "
            "(HTTP Basic, user ADMIN_USER, default 'admin')"
        )
    if len(settings.admin_password.reveal()) < MIN_ADMIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"ADMIN_PASSWORD is too short: it needs at least {MIN_ADMIN_PASSWORD_LENGTH}"
            " characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(16))'`)"
        )
    settings.require_database()
    settings.require_brevo_key()
    asyncio.run(_preflight(settings))
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )
    return 0


async def _preflight(settings: Settings) -> None:
    """The preflight checks: a setup problem stops `serve` (PreflightError, shown by the
    command line); Brevo unreachable or refusing the key does not, so the pages still show
    what the sync knows."""
    async with client_from(settings) as client:
        try:
            await prepare_brevo(client, settings)
        except BrevoError as exc:
            log.error("serve_brevo_unavailable", error=str(exc))
