"""Serving the emulator over HTTP (`brevo-sync fake-brevo`)."""

from __future__ import annotations

import uvicorn

from brevo_sync.emulator.app import create_app
from brevo_sync.emulator.config import EmulatorConfig


def run_server(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8025) -> None:
    """Serve until interrupted; Brevo's API is at http://host:port/v3."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", access_log=False)
