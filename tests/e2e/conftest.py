"""A real Chromium (Debian's, driven by Playwright) against the app served by uvicorn.

Each test gets its own database (the `settings` fixture), its own Brevo emulator served on a
port of its own, and its own app server; the browser is shared by the session.

Helpers for every page's test: `screenshot(page, name)` keeps a full-page PNG in
$E2E_ARTIFACTS (default tests/e2e/artifacts/); `assert_accessible(page)` runs axe-core
(vendored in tests/e2e/vendor/, MPL-2.0) and fails on any serious or critical violation.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from api.app import create_app
from brevo_sync.config import Settings
from tests.conftest import TEST_API_KEY
from tests.support.admin_app import PASSWORD, USER, admin_settings

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-quic"]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or Path(__file__).with_name("artifacts"))
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
# axe's impacts, in its order; these fail a test.
BLOCKING_IMPACTS = ("serious", "critical")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 420, "height": 860}
START_SECONDS = 20.0
TIMEOUT_MS = 10_000


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a port of its own) in a thread; yields the base URL."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it every answer on a kept-alive connection waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Live:
    """The running app, the emulator beside it, and clients for arranging a test."""

    url: str
    brevo_url: str
    settings: Settings

    def api(self) -> httpx.Client:
        # With the Origin the page's own calls carry: state changes need it.
        return httpx.Client(
            base_url=self.url, auth=(USER, PASSWORD), headers={"origin": self.url}, timeout=30
        )

    def brevo(self) -> httpx.Client:
        return httpx.Client(base_url=self.brevo_url, headers={"api-key": TEST_API_KEY}, timeout=30)


@pytest.fixture
def contacts_per_second() -> float:
    """The app's Brevo pace; a test parametrizes it lower to watch a sync move."""
    return 10_000.0


@pytest.fixture
def live(settings: Settings, emulator: Any, contacts_per_second: float) -> Iterator[Live]:
    with serving(emulator) as brevo_url:
        configured = dataclasses.replace(
            admin_settings(settings),
            brevo_base_url=f"{brevo_url}/v3",
            contacts_per_second=contacts_per_second,
        )
        with serving(create_app(configured)) as url:
            yield Live(url, brevo_url, configured)


# Module scope: Playwright's sync API keeps an event loop running while it lives, which
# would stop every async test that runs after the browser tests.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser must not pass as a skip
        pytest.skip(message)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    home = tmp_path_factory.mktemp("chromium-home")
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        env={**os.environ, "HOME": str(home), "TMPDIR": str(home)},
    )
    try:
        yield launched
    finally:
        launched.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    """A page logged in as the admin, failing the test on any script error."""
    context = browser.new_context(
        base_url=live.url,
        viewport=DESKTOP,
        http_credentials={"username": USER, "password": PASSWORD},
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], f"script errors on the page: {errors}"


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of what the page shows now, kept as a CI artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page: Page) -> None:
    """axe-core over the page as it is now: no serious or critical violation."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated, not added as a <script>: the app's Content-Security-Policy refuses
        # inline scripts, and the test must not loosen it.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in results
        if v["impact"] in BLOCKING_IMPACTS
    ]
    assert blocking == [], "accessibility violations:\n" + "\n".join(blocking)
