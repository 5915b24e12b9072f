"""The Starlette app: admin pages and API, probes, and the hourly cron route.

The app owns its resources in `lifespan`: the database pool, the Brevo client and what is
built on them live in `app.state` (`settings`, `pool`, `brevo`, `actions`, `totals`).
Building the app touches neither the database nor Brevo, so importing it is always safe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from api import admin, health, overview, pages
from api.actions import Actions
from api.auth import AdminAuth
from api.cron import cron_route
from api.errors import EXCEPTION_HANDLERS
from api.security import SecurityHeaders
from api.throttle import LoginThrottle
from api.totals import Totals
from api.webhooks import webhook_route
from brevo_sync.config import Settings
from brevo_sync.resources import public_dir
from brevo_sync.wiring import client_from, pool_from

POOL_NAME = "brevo-sync-api"
POOL_SIZE = 6
# What Vercel's CDN serves from public/static; elsewhere the app serves the same files.
STATIC_DIR = str(public_dir() / "static")


def create_app(
    settings: Settings,
    *,
    brevo_transport: httpx.AsyncBaseTransport | None = None,
    notice: str | None = None,
    login_throttle: LoginThrottle | None = None,
) -> Starlette:
    """`notice` is a line every page shows (`brevo-sync dev` uses it to say Brevo is the
    emulator); `login_throttle` is a seam for tests that need its clock."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = pool_from(settings, POOL_NAME, max_size=POOL_SIZE)
        async with pool, client_from(settings, transport=brevo_transport) as client:
            app.state.pool = pool
            app.state.brevo = client
            app.state.actions = Actions(settings, pool, client)
            app.state.totals = Totals(pool)
            yield

    app = Starlette(
        routes=[
            *health.ROUTES,
            *pages.ROUTES,
            *overview.ROUTES,
            *admin.ROUTES,
            cron_route,
            webhook_route,
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                AdminAuth,
                user=settings.admin_user,
                password=settings.admin_password,
                metrics_token=settings.metrics_token,
                throttle=login_throttle,
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.notice = notice
    return app
