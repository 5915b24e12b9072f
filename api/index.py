"""Vercel's entry: the ASGI `app`. Settings are read here, the database is first touched
when the app starts (its lifespan), so importing this module needs no database.

Vercel keeps what a function writes to stderr as its logs: the same JSON lines as the CLI's.
"""

from __future__ import annotations

import os

from api.app import create_app
from brevo_sync.config import Settings
from brevo_sync.logs import configure

configure(os.environ.get("LOG_LEVEL", "INFO"), json=True)
app = create_app(Settings.from_env())
