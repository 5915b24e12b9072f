"""Who may use the admin API, what it refuses, and what it never lets out."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from structlog.testing import capture_logs

from api.app import create_app
from api.body import MAX_BODY_BYTES
from api.server import serve
from api.throttle import LoginThrottle
from brevo_sync.config import ConfigError, Secret, Settings
from tests.conftest import TEST_API_KEY
from tests.factories import add_customer
from tests.support.admin_app import ORIGIN, PASSWORD, USER, admin_settings, client

pytestmark = pytest.mark.anyio


ADMIN_REQUESTS = [
    ("GET", "/admin/clients"),
    ("GET", "/admindash/amy/hapio"),
    ("GET", "/admin/history"),
    ("GET", "/api/admin/views"),
    ("GET", "/api/admin/views/neon"),
    ("GET", "/api/admin/customers/sync-all"),
    ("POST", "/api/admin/customers/sync-all"),
    ("POST", "/api/admin/brevo/refresh"),
    ("GET", "/api/admin/history"),
    ("POST", "/api/admin/customers/2b1e4c5d-0000-4000-8000-000000000000/push"),
    ("GET", "/no/such/page"),
]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("method", "path"), ADMIN_REQUESTS)
async def test_no_credentials_is_a_401_that_asks_for_basic(
    app: Starlette, method: str, path: str
) -> None:
    async with client(app, auth=None) as anonymous:
        response = await anonymous.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="brevo-sync admin"')
    assert response.json() == {"error": "authentication required"}


@pytest.mark.parametrize(
    "authorization",
    [
        basic(USER, "wrong"),
        basic("root", PASSWORD),
        basic(USER, PASSWORD + " "),
        basic(USER, ""),
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"admin:\xff\xfe").decode(),
        f"Bearer {PASSWORD}",
        "Basic",
        "",
    ],
)
async def test_wrong_credentials_are_a_401(app: Starlette, authorization: str) -> None:
    async with client(app, auth=None) as anonymous:
        response = await anonymous.get(
            "/api/admin/views/neon", headers={"authorization": authorization}
        )
    assert response.status_code == 401 and "www-authenticate" in response.headers


async def test_a_non_ascii_password_works(settings: Settings, emulator: Any) -> None:
    configured = dataclasses.replace(
        admin_settings(settings),
        admin_password=Settings.from_env({"ADMIN_PASSWORD": "pässwörd-ü"}).admin_password,
    )
    application = create_app(configured, brevo_transport=httpx.ASGITransport(app=emulator))
    async with (
        application.router.lifespan_context(application),
        client(application, auth=None) as anonymous,
    ):
        response = await anonymous.get(
            "/api/admin/views", headers={"authorization": basic(USER, "pässwörd-ü")}
        )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://admin.test.evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": ORIGIN},
    ],
)
async def test_cross_site_state_changes_are_refused(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in (
        "/api/admin/customers/sync-all",
        "/api/admin/brevo/refresh",
        "/api/admin/customers/2b1e4c5d-0000-4000-8000-000000000000/push",
    ):
        response = await http.post(path, headers=headers)
        assert response.status_code == 403, path
        assert response.json() == {"error": "cross-site request refused"}


async def test_same_origin_state_changes_and_cross_site_reads_pass(http: httpx.AsyncClient) -> None:
    unknown = "/api/admin/customers/2b1e4c5d-0000-4000-8000-000000000000/push"
    same = await http.post(unknown, headers={"origin": ORIGIN, "sec-fetch-site": "same-origin"})
    assert same.status_code == 404  # past the origin check, to the route
    read = await http.get(
        "/api/admin/views",
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )
    assert read.status_code == 200


@pytest.mark.parametrize("path", ["/admin/clients", "/api/admin/views/neon", "/nope", "/healthz"])
async def test_every_answer_carries_the_security_headers(
    http: httpx.AsyncClient, path: str
) -> None:
    for response in (await http.get(path), await http.get(path, auth=("admin", "wrong"))):
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


async def test_probes_and_assets_need_no_credentials(app: Starlette) -> None:
    async with client(app, auth=None) as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        assert (await anonymous.get("/readyz")).json() == {"status": "ok"}
        script = await anonymous.get("/static/admin.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert (await anonymous.get("/metrics")).status_code == 401


async def test_readyz_is_503_when_the_database_is_unreachable(
    settings: Settings, emulator: Any
) -> None:
    unreachable = dataclasses.replace(
        admin_settings(settings), database_url="postgresql://postgres@127.0.0.1:1/none"
    )
    application = create_app(unreachable, brevo_transport=httpx.ASGITransport(app=emulator))
    async with application.router.lifespan_context(application), client(application) as http_client:
        assert (await http_client.get("/healthz")).status_code == 200
        ready = await http_client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"


async def test_without_a_password_the_admin_is_closed(settings: Settings, emulator: Any) -> None:
    application = create_app(settings, brevo_transport=httpx.ASGITransport(app=emulator))
    async with (
        application.router.lifespan_context(application),
        client(application, auth=("admin", "")) as http_client,
    ):
        response = await http_client.get("/admin/clients")
        assert response.status_code == 503 and "ADMIN_PASSWORD" in response.json()["error"]
        assert (await http_client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/admin/views/neon"),
        ("PUT", "/api/admin/customers/sync-all"),
        ("GET", "/api/admin/customers/2b1e4c5d-0000-4000-8000-000000000000/push"),
        ("GET", "/api/admin/brevo/refresh"),
        ("POST", "/admin/clients"),
        ("PATCH", "/healthz"),
    ],
)
async def test_a_wrong_method_is_a_json_405(
    http: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await http.request(method, path, headers={"origin": ORIGIN})
    assert response.status_code == 405 and "not allowed" in response.json()["error"]


async def test_an_unknown_route_is_a_json_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/admin/nothing-here")
    assert response.status_code == 404 and response.json()["error"].startswith("no such route")


HOSTILE_FIRST = "<script>alert(1)</script>"
HOSTILE_LAST = '"><img src=x onerror=alert(2)>'


async def test_pages_escape_everything_they_show(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    add_customer(db, email="x@example.com", first_name=HOSTILE_FIRST, last_name=HOSTILE_LAST)
    for path, params in [
        ("/admin/clients", {}),
        ("/admin/clients", {"q": HOSTILE_FIRST}),
        ("/admin/clients", {"view": HOSTILE_FIRST}),
        ("/admin/clients", {"view": "unmatched", "q": "<"}),
        ("/admin/history", {"customer": HOSTILE_LAST}),
        ("/admin/clients", {"sort": HOSTILE_LAST}),
    ]:
        response = await http.get(path, params=params)
        assert response.status_code in (200, 400, 404)
        assert "text/html" in response.headers["content-type"]
        page = response.text
        assert HOSTILE_FIRST not in page and "<img" not in page
        # Script elements are the app's own files only, no inline code.
        scripts = re.findall(r"<script[^>]*>", page)
        assert '<script src="/static/admin.js" defer>' in scripts
        assert set(scripts) <= {'<script src="/static/admin.js" defer>',
                                '<script src="/static/sync_all.js" defer>'}
    shown = (await http.get("/admin/clients", params={"q": "alert"})).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown


async def test_secrets_never_reach_pages_answers_or_errors(
    db: psycopg.Connection[Any], http: httpx.AsyncClient
) -> None:
    cid = add_customer(db)
    await http.post(f"/api/admin/customers/{cid}/push")
    answers = [
        await http.get(path)
        for path in (
            "/admin/clients",
            "/admin/clients?view=unmatched",
            "/admin/history",
            "/api/admin/views/neon",
            "/api/admin/customers/sync-all",
            "/api/admin/history",
            "/nope",
            "/api/admin/views/neon?page=-1",
        )
    ]
    answers.append(await http.get("/admin/clients", auth=("admin", "wrong")))
    for response in answers:
        assert PASSWORD not in response.text and TEST_API_KEY not in response.text


def test_serve_refuses_to_start_without_a_password(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="ADMIN_PASSWORD"):
        serve(settings, host="127.0.0.1", port=0)


def test_the_serve_command_names_the_missing_variable(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "BREVO_API_KEY": TEST_API_KEY}
    env.pop("ADMIN_PASSWORD", None)
    done = subprocess.run(
        [sys.executable, "-m", "brevo_sync.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "ADMIN_PASSWORD" in done.stderr


def test_the_vercel_entry_imports_without_a_database() -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/unreachable",
        "BREVO_API_KEY": TEST_API_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-c", "import api.index; print(type(api.index.app).__name__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Starlette"


async def test_the_cron_route_is_mounted_and_asks_for_its_own_secret(app: Starlette) -> None:
    async with client(app, auth=None) as anonymous:
        response = await anonymous.get("/api/cron/sync-brevo")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"  # the cron's check, not Basic


# -- bad input at the door: a 4xx, never a 500 ------------------------------------------------

RAW_AUTHORIZATIONS = [
    b"Basic \xff\xfe",
    b"Basic \xe9t\xe9",
    b"\xff",
    b"Basic YWRtaW46\xa0",
    b"Bearer \xc3\xa9",
    b"Basic " + base64.b64encode(b"admin:\xff\xfe"),
    b"Basic " + base64.b64encode(b"no-colon"),
    b"Basic %%%",
]


@pytest.mark.parametrize("authorization", RAW_AUTHORIZATIONS)
@pytest.mark.parametrize("path", ["/admin/clients", "/api/admin/views", "/no/such", "/metrics"])
async def test_any_authorization_header_is_a_401_never_a_500(
    app: Starlette, path: str, authorization: bytes
) -> None:
    async with client(app, auth=None) as anonymous:
        response = await anonymous.get(path, headers=[(b"authorization", authorization)])
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "authentication required"}


async def test_any_bearer_on_the_cron_route_is_a_401(settings: Settings, emulator: Any) -> None:
    configured = dataclasses.replace(
        admin_settings(settings), cron_secret=Secret("cron-secret-0123456789")
    )
    application = create_app(configured, brevo_transport=httpx.ASGITransport(app=emulator))
    async with client(application, auth=None) as anonymous:
        for authorization in RAW_AUTHORIZATIONS:
            response = await anonymous.get(
                "/api/cron/sync-brevo", headers=[(b"authorization", authorization)]
            )
            assert response.status_code == 401, authorization


class CountedBody:
    """A huge body made chunk by chunk, never held whole: it counts what the server took."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total = total
        self.chunk = b" " * chunk
        self.consumed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.consumed < self.total:
            self.consumed += len(self.chunk)
            yield self.chunk


JSON_TYPE = {"content-type": "application/json"}
UNKNOWN_PUSH = "/api/admin/customers/2b1e4c5d-0000-4000-8000-000000000000/push"
BODY_ROUTES = ["/api/admin/customers/sync-all", "/api/admin/brevo/refresh", UNKNOWN_PUSH]


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_a_300_mb_body_is_refused_before_it_is_read(
    http: httpx.AsyncClient, path: str
) -> None:
    streamed = CountedBody(300 * 1024 * 1024)
    response = await http.post(path, content=streamed, headers=JSON_TYPE)
    assert response.status_code == 413 and "16384 bytes" in response.json()["error"]
    # Read up to the limit and one chunk past it, not one chunk more.
    assert streamed.consumed <= MAX_BODY_BYTES + len(streamed.chunk)


async def test_a_declared_length_over_the_limit_is_refused_without_reading(
    http: httpx.AsyncClient,
) -> None:
    streamed = CountedBody(300 * 1024 * 1024)
    response = await http.post(
        "/api/admin/customers/sync-all",
        content=streamed,
        headers={**JSON_TYPE, "content-length": str(streamed.total)},
    )
    assert response.status_code == 413 and streamed.consumed == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 8000 + b"]" * 8000, id="arrays"),
        pytest.param(b'{"a":' * 2000 + b"1" + b"}" * 2000, id="objects"),
        pytest.param(b'{"budget": ' + b"[" * 33 + b"]" * 33 + b"}", id="just-past-the-limit"),
    ],
)
@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_deeply_nested_json_is_a_400(http: httpx.AsyncClient, path: str, body: bytes) -> None:
    assert len(body) <= MAX_BODY_BYTES
    response = await http.post(path, content=body, headers=JSON_TYPE)
    assert response.status_code == 400, response.text
    assert "nested deeper" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "multipart/form-data; boundary=x"},
        {"content-type": "application/json-patch+json"},
        {},
    ],
)
@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_a_body_that_is_not_declared_json_is_a_415(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await http.post(path, content=b'{"full": true}', headers=headers)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["error"]


async def test_a_declared_json_body_and_an_empty_one_pass(http: httpx.AsyncClient) -> None:
    declared = await http.post(
        UNKNOWN_PUSH, content=b"{}", headers={"content-type": "application/json; charset=utf-8"}
    )
    empty = await http.post(UNKNOWN_PUSH)
    assert declared.status_code == 404 and empty.status_code == 404  # past the body, to the id


# -- login throttling ---------------------------------------------------------------------------


class FrozenClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def throttled_app(
    settings: Settings, emulator: Any, clock: FrozenClock
) -> AsyncIterator[Starlette]:
    application = create_app(
        admin_settings(settings),
        brevo_transport=httpx.ASGITransport(app=emulator),
        login_throttle=LoginThrottle(clock=clock),
    )
    async with application.router.lifespan_context(application):
        yield application


def from_client(app: Starlette, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=ORIGIN)


async def test_guessing_gets_429s_with_a_growing_retry_after(
    throttled_app: Starlette, clock: FrozenClock
) -> None:
    guess = {"authorization": basic("root", "guess")}
    right = {"authorization": basic(USER, PASSWORD)}
    async with from_client(throttled_app, "203.0.113.7") as attacker:
        statuses = [(await attacker.get("/healthz/x", headers=guess)).status_code for _ in range(5)]
        assert statuses == [401] * 5
        refused = await attacker.get("/api/admin/views", headers=guess)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"].startswith("too many failed logins")
        # While it waits, even the right password is not judged.
        assert (await attacker.get("/admin/clients", headers=right)).status_code == 429
        clock.now += 1
        assert (await attacker.get("/admin/clients", headers=guess)).status_code == 401
        again = await attacker.get("/admin/clients", headers=guess)
        assert again.status_code == 429 and again.headers["retry-after"] == "2"
        clock.now += 2
        assert (await attacker.get("/admin/clients", headers=right)).status_code == 200
    async with from_client(throttled_app, "198.51.100.1") as bystander:
        assert (await bystander.get("/admin/clients", headers=right)).status_code == 200


async def test_guesses_at_the_admin_from_many_clients_throttle_the_user(
    throttled_app: Starlette,
) -> None:
    guess = {"authorization": basic(USER, "guess")}
    for n in range(5):
        async with from_client(throttled_app, f"203.0.113.{n}") as attacker:
            assert (await attacker.get("/admin/clients", headers=guess)).status_code == 401
    async with from_client(throttled_app, "203.0.113.200") as fresh:
        response = await fresh.get("/admin/clients", headers=guess)
    assert response.status_code == 429 and response.headers["retry-after"] == "1"


async def test_failed_logins_are_logged_without_the_password(throttled_app: Starlette) -> None:
    typed_in_the_wrong_field = "my-secret-typed-as-user"
    with capture_logs() as logs:
        async with from_client(throttled_app, "203.0.113.9") as someone:
            await someone.get("/admin/clients")  # no credentials yet: not a guess
            await someone.get("/admin/clients", headers={"authorization": basic(USER, "hunter2!")})
            await someone.get(
                "/admin/clients",
                headers={"authorization": basic(typed_in_the_wrong_field, "x")},
            )
            await someone.get("/admin/clients", headers={"authorization": basic(USER, PASSWORD)})
    failed = [e for e in logs if e["event"] == "admin_login_failed"]
    assert [(e["log_level"], e["client"], e["user"], e["failures"]) for e in failed] == [
        ("warning", "203.0.113.9", USER, 1),
        ("warning", "203.0.113.9", "m***", 2),
    ]
    text = repr(logs)
    assert "hunter2!" not in text and PASSWORD not in text
    assert typed_in_the_wrong_field not in text


# -- the password, state changes, the cron's method, /metrics -----------------------------------


@pytest.mark.parametrize("password", ["x", "eleven-char"])
def test_serve_refuses_a_short_password(settings: Settings, password: str) -> None:
    short = dataclasses.replace(settings, admin_password=Secret(password))
    with pytest.raises(ConfigError, match="ADMIN_PASSWORD is too short.*12 characters"):
        serve(short, host="127.0.0.1", port=0)


def test_twelve_characters_are_enough(settings: Settings) -> None:
    enough = dataclasses.replace(
        settings, admin_password=Secret("twelve-chars"), brevo_api_key=None
    )
    with pytest.raises(ConfigError, match="BREVO_API_KEY"):  # past the password's check
        serve(enough, host="127.0.0.1", port=0)


def test_the_serve_command_refuses_a_short_password(database_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BREVO_API_KEY": TEST_API_KEY,
        "ADMIN_PASSWORD": "short",
    }
    done = subprocess.run(
        [sys.executable, "-m", "brevo_sync.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "ADMIN_PASSWORD is too short" in done.stderr
    assert "short" not in done.stderr.replace("too short", "")


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_a_state_change_naming_no_site_is_refused(app: Starlette, path: str) -> None:
    async with client(app, origin=None) as script:
        response = await script.post(path)
    assert response.status_code == 403
    assert "Origin or Sec-Fetch-Site" in response.json()["error"]


async def test_fetch_metadata_alone_can_name_this_site(app: Starlette) -> None:
    async with client(app, origin=None) as browser:
        response = await browser.post(UNKNOWN_PUSH, headers={"sec-fetch-site": "same-origin"})
    assert response.status_code == 404  # past the check, to the route


async def test_head_on_the_cron_route_runs_no_sweep(
    settings: Settings, emulator: Any, db: psycopg.Connection[Any]
) -> None:
    secret = "cron-secret-0123456789"
    configured = dataclasses.replace(admin_settings(settings), cron_secret=Secret(secret))
    application = create_app(configured, brevo_transport=httpx.ASGITransport(app=emulator))
    bearer = {"authorization": f"Bearer {secret}"}
    async with application.router.lifespan_context(application), client(
        application, auth=None
    ) as cron:
        for method in ("HEAD", "OPTIONS", "PUT", "DELETE"):
            response = await cron.request(method, "/api/cron/sync-brevo", headers=bearer)
            assert response.status_code == 405, method
    assert db.execute("SELECT count(*) AS n FROM brevo_sync.runs").fetchone() == {"n": 0}


async def test_metrics_need_the_admin_or_the_metrics_token(
    settings: Settings, emulator: Any
) -> None:
    token = "metrics-token-0123456789"
    configured = dataclasses.replace(admin_settings(settings), metrics_token=Secret(token))
    application = create_app(configured, brevo_transport=httpx.ASGITransport(app=emulator))
    async with client(application, auth=None) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 401
        wrong = await anonymous.get("/metrics", headers={"authorization": f"Bearer {token}x"})
        assert wrong.status_code == 401
        scraper = await anonymous.get("/metrics", headers={"authorization": f"Bearer {token}"})
        assert scraper.status_code == 200 and "python_info" in scraper.text
        # The token opens /metrics only.
        bearer = {"authorization": f"Bearer {token}"}
        other = await anonymous.get("/api/admin/views", headers=bearer)
        assert other.status_code == 401
    async with client(application) as admin:
        assert (await admin.get("/metrics")).status_code == 200


async def test_the_metrics_token_works_with_the_admin_closed(
    settings: Settings, emulator: Any
) -> None:
    token = "metrics-token-0123456789"
    configured = dataclasses.replace(settings, metrics_token=Secret(token))
    application = create_app(configured, brevo_transport=httpx.ASGITransport(app=emulator))
    async with client(application, auth=None) as scraper:
        response = await scraper.get("/metrics", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert (await scraper.get("/metrics")).status_code == 503
