"""Vercel's entry: the ASGI `app`. Settings are read here, the database is first touched
when the app starts (its lifespan), so importing this module needs no database."""

from __future__ import annotations

from api.app import create_app
from brevo_sync.config import Settings

app = create_app(Settings.from_env())
