"""HTTP Basic for the admin pages and routes, throttled guessing, and a refusal of cross-site
state changes.

A browser resends Basic credentials to our origin whatever page started the request, so a
POST from another site would carry them: a state change is admitted only when its Origin or
Sec-Fetch-Site header, which a page cannot forge, names this site.

Failed logins are logged (client address, user name masked unless it is the admin's, never
the password) and throttled per client and, for the admin's user name, per user
(api/throttle.py): past a few failures the answer is 429 with a growing Retry-After.
"""

from __future__ import annotations

import base64
import hmac
from urllib.parse import urlsplit

import structlog
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.throttle import LoginThrottle, retry_after_header
from brevo_sync.config import Secret

log = structlog.get_logger("api.auth")

REALM = 'Basic realm="brevo-sync admin", charset="UTF-8"'
# Reachable without credentials: probes, static assets, the cron route and Brevo's webhooks
# (each checks its own bearer secret; Brevo sends no Origin, server to server). /metrics
# takes the admin's credentials or METRICS_TOKEN.
PUBLIC_PATHS = ("/healthz", "/readyz")
PUBLIC_PREFIXES = ("/static/", "/api/cron/", "/api/webhooks/")
METRICS_PATH = "/metrics"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCH = frozenset({"same-origin", "none"})
CROSS_SITE = "cross-site request refused"
NO_SITE = (
    "a state change needs an Origin or Sec-Fetch-Site header naming this site"
    " (browsers send them; from a script, send Origin: <this site's URL>)"
)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def credentials_match(header: str | None, user: str, password: Secret) -> bool:
    """Constant-time comparison of both parts, so timing tells nothing about either."""
    given_user, given_password = basic_credentials(header) or ("", "")
    return _matches(given_user, given_password, user, password)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of a well-formed Basic header; None for anything else, whatever bytes
    it holds (Starlette hands them over as latin-1 text)."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        # ASCII blanks only: str.strip() would also drop latin-1's NBSP and NEL.
        decoded = base64.b64decode(encoded.strip(" \t"), validate=True).decode("utf-8")
    except ValueError:  # bad base64, non-ASCII text, bytes that are not UTF-8
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def bearer_matches(header: str | None, token: Secret | None) -> bool:
    if not token:
        return False
    scheme, _, sent = (header or "").partition(" ")
    # Latin-1 gives back the bytes as sent, so any header compares without raising.
    same = hmac.compare_digest(sent.strip(" \t").encode("latin-1"), token.reveal().encode())
    return same and scheme.lower() == "bearer"


def _matches(given_user: str, given_password: str, user: str, password: Secret) -> bool:
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.reveal().encode())
    return user_ok and password_ok


def is_cross_site(headers: Headers) -> bool:
    """True unless Sec-Fetch-Site or Origin names this site: a request carrying neither is
    refused too, as nothing shows where it came from."""
    return cross_site_refusal(headers) is not None


def cross_site_refusal(headers: Headers) -> str | None:
    """Why a state change with these headers is refused; None when it comes from this site."""
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAME_SITE_FETCH:
        return CROSS_SITE
    origin = headers.get("origin")
    if origin is None:
        # `none` (typed in the address bar) names no site; browsers send Origin on a POST.
        return None if site is not None and site.lower() == "same-origin" else NO_SITE
    if origin == "null":
        return CROSS_SITE
    try:
        origin_host = urlsplit(origin).netloc.lower()
    except ValueError:
        return CROSS_SITE
    own_hosts = {
        h.strip().lower() for h in (headers.get("host"), headers.get("x-forwarded-host")) if h
    }
    return None if origin_host in own_hosts else CROSS_SITE


def masked_user(given: str, user: str) -> str:
    """The admin's own name as given; any other only by its first character, since people
    type their password in the user field."""
    if given == user:
        return given
    return f"{given[:1]}***" if given else ""


class AdminAuth:
    """Plain ASGI middleware guarding everything but the public paths."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        user: str,
        password: Secret | None,
        metrics_token: Secret | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.app = app
        self.user = user
        self.password = password
        self.metrics_token = metrics_token
        self.throttle = throttle if throttle is not None else LoginThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        authorization = headers.get("authorization")
        if scope["path"] == METRICS_PATH and bearer_matches(authorization, self.metrics_token):
            await self.app(scope, receive, send)
            return
        response: Response
        if self.password is None:
            response = error_response(
                503, "admin access is turned off: set ADMIN_PASSWORD to use the admin pages"
            )
        elif (refused := self._login_refusal(scope, authorization, self.password)) is not None:
            response = refused
        elif scope["method"] in UNSAFE_METHODS and (why := cross_site_refusal(headers)):
            response = error_response(403, why)
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _login_refusal(
        self, scope: Scope, authorization: str | None, password: Secret
    ) -> Response | None:
        """None when the credentials are right; else the 401, or the 429 of a throttled
        client or user (judged before the credentials, so a guess while waiting tells
        nothing)."""
        given = basic_credentials(authorization)
        given_user = given[0] if given else ""
        keys = self._throttle_keys(scope, given_user)
        seen = {"client": client_address(scope), "user": masked_user(given_user, self.user)}
        wait = self.throttle.wait(keys)
        if wait > 0:
            retry_after = retry_after_header(wait)
            # Debug only: a refused flood must not become a flood of log lines.
            log.debug("admin_login_throttled", **seen, retry_after=int(retry_after))
            return error_response(
                429,
                f"too many failed logins: try again in {retry_after} s",
                headers={"Retry-After": retry_after},
            )
        if _matches(*(given or ("", "")), self.user, password):
            # The client's count only: the user's fades an hour after its last failure, so
            # the admin's own requests cannot wipe the trace of guesses made elsewhere.
            self.throttle.succeeded(keys[:1])
            return None
        if authorization is not None:  # a browser's first request sends none: not a guess
            failures = self.throttle.failed(keys)
            log.warning("admin_login_failed", **seen, path=scope["path"], failures=failures)
        return error_response(401, "authentication required", headers={"WWW-Authenticate": REALM})

    def _throttle_keys(self, scope: Scope, given_user: str) -> list[str]:
        keys = [f"client:{client_address(scope)}"]
        # Only the admin's name can be broken into; counting every name given would let
        # guesses at random names crowd the admin's count out of the bounded memory.
        if given_user == self.user:
            keys.append(f"user:{given_user}")
        return keys


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
