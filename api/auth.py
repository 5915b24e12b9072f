"""HTTP Basic for the admin pages and routes, and a refusal of cross-site state changes.

A browser resends Basic credentials to our origin whatever page started the request, so a
POST from another site would carry them: such requests are refused by their Origin or
Sec-Fetch-Site header, which a page cannot forge.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from brevo_sync.config import Secret

REALM = 'Basic realm="brevo-sync admin", charset="UTF-8"'
# Reachable without credentials: probes, metrics, static assets, and the cron route (which
# checks its own bearer secret).
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")
PUBLIC_PREFIXES = ("/static/", "/api/cron/")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def credentials_match(header: str | None, user: str, password: Secret) -> bool:
    """Constant-time comparison of both parts, so timing tells nothing about either."""
    given_user, given_password = _decode_basic(header)
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.reveal().encode())
    return user_ok and password_ok


def _decode_basic(header: str | None) -> tuple[str, str]:
    if not header:
        return "", ""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else ("", "")


def is_cross_site(headers: Headers) -> bool:
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAME_SITE_FETCH:
        return True
    origin = headers.get("origin")
    if origin is None:
        return False  # not sent by a browser (curl, scripts): credentials alone decide
    if origin == "null":
        return True
    try:
        origin_host = urlsplit(origin).netloc.lower()
    except ValueError:
        return True
    own_hosts = {
        h.strip().lower() for h in (headers.get("host"), headers.get("x-forwarded-host")) if h
    }
    return origin_host not in own_hosts


class AdminAuth:
    """Plain ASGI middleware guarding everything but the public paths."""

    def __init__(self, app: ASGIApp, *, user: str, password: Secret | None) -> None:
        self.app = app
        self.user = user
        self.password = password

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.password is None:
            response = error_response(
                503, "admin access is turned off: set ADMIN_PASSWORD to use the admin pages"
            )
        elif not credentials_match(headers.get("authorization"), self.user, self.password):
            response = error_response(
                401, "authentication required", headers={"WWW-Authenticate": REALM}
            )
        elif scope["method"] in UNSAFE_METHODS and is_cross_site(headers):
            response = error_response(403, "cross-site request refused")
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
