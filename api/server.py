"""`brevo-sync serve`: the app under uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from brevo_sync.config import ConfigError, Settings


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve until interrupted. Refuses to start without an admin password: the pages show
    every customer, and no default password is safe."""
    if not settings.admin_password:
        raise ConfigError(
            "ADMIN_PASSWORD is not set: the admin pages need a password "
            "(HTTP Basic, user ADMIN_USER, default 'admin')"
        )
    settings.require_database()
    settings.require_brevo_key()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )
    return 0
