"""Keeping the Brevo API key out of reprs, error messages and rendered tracebacks."""

from __future__ import annotations

from brevo_sync.config import Secret

__all__ = ["Secret", "redact", "scrubbed"]


def scrubbed(exc: BaseException, secret: str) -> BaseException:
    """Make an httpx error chain safe to attach as a cause: no frames, no key in messages.

    httpx and httpcore frames hold the request headers, API key included, as local variables,
    which traceback renderers that show locals would print; and a transport may echo headers
    in its message. Types and (redacted) messages stay for debugging.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current.args = tuple(redact(arg, secret) for arg in current.args)
        current = current.__cause__ or current.__context__
    return exc


def redact(value: object, secret: str) -> object:
    if isinstance(value, str) and secret in value:
        return value.replace(secret, "**********")
    return value
