"""Who may use the admin API, what it refuses, and what it never lets out."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.server import serve
from brevo_sync.config import ConfigError, Settings
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
        assert (await anonymous.get("/metrics")).status_code == 200


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
        # One script element only: the page's own file, no inline code.
        assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/admin.js" defer>']
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
