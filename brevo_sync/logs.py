"""Logging configured once: JSON lines for machines, a console renderer on a terminal.

No secret reaches a line: keys that name one are blanked, the password of any DSN in any value
is redacted, and tracebacks carry no frame locals (a `dsn` local or psycopg's connection
parameters would print the database password).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from brevo_sync.config import redact_dsn

# Never let these reach a log line, whatever a caller passes.
_SECRET_KEYS = frozenset({"api_key", "api-key", "authorization", "password", "cron_secret",
                          "brevo_api_key", "admin_password"})


# An email address, also URL-encoded as in a request line: its local part is masked.
_EMAIL = re.compile(
    r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@|%40)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# Libraries that log each request's URL at INFO, and Brevo's URLs can name a customer.
_CHATTY_LIBRARIES = ("httpx", "httpcore")


def mask_emails(text: str) -> str:
    """`amelie.poulain@example.com` -> `a***@example.com`: a log line tells which domain, the
    customer id tells who."""
    return _EMAIL.sub(r"\1***\2\3", text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_emails(redact_dsn(value))
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        event[key] = "**********" if key.lower() in _SECRET_KEYS else _masked(event[key])
    return event


# structlog's own dict_tracebacks shows every frame's locals.
_DICT_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False))


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(
                         colors=False, exception_formatter=structlog.dev.plain_traceback))
    _route_stdlib_logging(renderer)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # The console renderer prints a traceback as text; a dict would break it.
            _DICT_TRACEBACKS if json else structlog.processors.format_exc_info,
            _redact,  # after the traceback is rendered: exception messages are values too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _route_stdlib_logging(renderer: Any) -> None:
    """Libraries' own log records (psycopg_pool, uvicorn) come out as the same JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redact,
                    renderer],
        foreign_pre_chain=[structlog.stdlib.add_log_level,
                           structlog.stdlib.add_logger_name,
                           structlog.processors.TimeStamper(fmt="iso", utc=True),
                           structlog.processors.format_exc_info],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
