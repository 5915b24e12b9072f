"""Every error the API gives is JSON `{"error": message}`: a 4xx for anything the caller can
fix, never a 500 for bad input. Unexpected failures are logged and answered without details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
import structlog
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from brevo_sync.brevo import BrevoAccountError, BrevoError
from brevo_sync.pause import note_refused
from brevo_sync.preflight import PreflightError

log = structlog.get_logger("api")

_HTTP_MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


class ApiError(Exception):
    """An answer for the caller: the status and a message that says what to change."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
    return error_response(exc.status, exc.message, **exc.extra)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    message = _HTTP_MESSAGES.get(exc.status_code, "request failed")
    if exc.status_code == 404:
        message = f"no such route: {request.method} {request.url.path}"[:200]
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"[:200]
    return error_response(exc.status_code, message, headers=exc.headers)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
    return error_response(503, "the database is not reachable right now; try again shortly")


async def _brevo_failed(request: Request, exc: Exception) -> Response:
    # The client's messages carry Brevo's reason and never the API key.
    log.warning("brevo_unavailable", path=request.url.path, error=str(exc))
    return error_response(502, f"Brevo: {exc}")


async def _brevo_refused_account(request: Request, exc: Exception) -> Response:
    """Brevo refuses the account, not the customer: the row stays pending, untouched; the
    pause is recorded for the page's banner and /readyz."""
    assert isinstance(exc, BrevoAccountError)  # noqa: S101 - registered for it only
    await note_refused(request.app.state.pool, exc, source="admin")
    return error_response(
        503, f"Brevo refuses the account: {exc}. Pushing is paused; nothing was recorded"
        " against the customer, who stays pending until Brevo answers again",
        paused={"status": exc.status, "code": exc.code, "reason": str(exc)})
async def _not_set_up(request: Request, exc: Exception) -> Response:
    # Brevo's account lacks what the sync writes to (brevo_sync/preflight.py): say what.
    assert isinstance(exc, PreflightError)  # noqa: S101 - registered for PreflightError only
    log.error("brevo_setup_problem", path=request.url.path, problems=exc.report.summary())
    return error_response(503, str(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_error", path=request.url.path, error=repr(exc))
    return error_response(500, "internal error")


EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {
    ApiError: _api_error,
    HTTPException: _http_error,
    PoolTimeout: _database_unavailable,
    psycopg.OperationalError: _database_unavailable,
    BrevoAccountError: _brevo_refused_account,
    BrevoError: _brevo_failed,
    PreflightError: _not_set_up,
    Exception: _unexpected,
}
