"""Probes and metrics, reachable without credentials."""

from __future__ import annotations

import asyncio

import prometheus_client
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from brevo_sync.db import Pool
from brevo_sync.pause import read_refusal

READY_TIMEOUT_SECONDS = 3.0


async def healthz(request: Request) -> Response:
    """Alive: the process answers. Says nothing about the database, on purpose."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: the database answers a query within a few seconds, and no pause is recorded
    (Brevo refusing the account: 503 with Brevo's reason)."""
    pool: Pool = request.app.state.pool
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with pool.connection(timeout=READY_TIMEOUT_SECONDS) as conn:
                refusal = await read_refusal(conn)
    except Exception as exc:  # any failure means "not ready"; the reason is the class name
        return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, status_code=503)
    if refusal is not None:
        return JSONResponse({"status": "paused", "error": refusal.message,
                             "paused": refusal.as_json()}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    return Response(
        prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST
    )


ROUTES: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
