"""`brevo-sync dev` as a newcomer runs it: one process, the emulator announced, the admin URL
and a password printed, demo customers synced, and Ctrl-C stopping everything."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from api.server import MIN_ADMIN_PASSWORD_LENGTH

START_SECONDS = 60.0
SYNC_SECONDS = 30.0


READY = r"^ready: admin at (http://127\.0\.0\.1:\d+)/admin\b"


class DevProcess:
    def __init__(self, env: dict[str, str], seed: int, *options: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "brevo_sync.cli", "dev", "--seed", str(seed), "--port", "0",
             *options],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, pattern: str, seconds: float = START_SECONDS) -> re.Match[str]:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.lines)}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.stderr is not None
        _, rest = self.proc.communicate(timeout=30)
        self.lines.append(rest)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "DATABASE_URL_UNPOOLED",
            "BREVO_API_KEY",
            "BREVO_BASE_URL",
            "BREVO_LIST_ID",
            "ADMIN_PASSWORD",
        )
    }
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


@pytest.fixture
def run_dev(dev_env: dict[str, str]) -> Iterator[list[DevProcess]]:
    started: list[DevProcess] = []
    yield started
    for process in started:
        process.kill()


def check_dev(process: DevProcess, seeded: int) -> None:
    process.wait_for(r"starting the Brevo EMULATOR at http://127\.0\.0\.1:\d+/v3")
    url = process.wait_for(r"Admin page:\s+(http://127\.0\.0\.1:\d+)/admin$").group(1)
    user = process.wait_for(r"User:\s+(\S+)").group(1)
    password = process.wait_for(r"Password:\s+(\S+)").group(1)
    assert len(password) >= MIN_ADMIN_PASSWORD_LENGTH  # as long as `serve` asks
    process.wait_for(r"EMULATOR .* nothing reaches the real Brevo")
    assert process.wait_for(READY).group(1) == url
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/admin/clients").status_code == 401
        page = http.get("/admin/clients", auth=(user, password))
        assert page.status_code == 200 and "built-in EMULATOR" in page.text
        deadline = time.monotonic() + SYNC_SECONDS
        while True:  # the listener pushes the demo customers; one email is refused
            status = http.get("/api/admin/customers/sync-all", auth=(user, password)).json()
            if status["pending"] == 0 and status["failed"] == 1:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        neon = http.get("/api/admin/views/neon", auth=(user, password)).json()
        assert neon["total"] == seeded
        assert any(r["error"] == "Invalid email address" for r in neon["rows"])
    assert process.interrupt() == 0
    assert "stopped" in process.lines[-1]
    assert password not in "".join(process.lines).replace(f"Password:      {password}", "")


def test_dev_with_a_database_starts_the_emulator_and_syncs_demo_customers(
    run_dev: list[DevProcess], dev_env: dict[str, str], database_url: str
) -> None:
    process = DevProcess({**dev_env, "DATABASE_URL": database_url}, seed=12)
    run_dev.append(process)
    check_dev(process, seeded=12)


def test_dev_restarted_over_a_kept_database_writes_to_no_strangers(
    run_dev: list[DevProcess], dev_env: dict[str, str], database_url: str
) -> None:
    """The second emulator starts empty, and other people come first under the old ids:
    the ids the first one gave are forgotten, every customer gets a contact of their own."""
    first = DevProcess({**dev_env, "DATABASE_URL": database_url}, seed=6)
    run_dev.append(first)
    check_dev(first, seeded=6)
    with psycopg.connect(database_url, autocommit=True) as db:
        stored = db.execute("SELECT count(brevo_contact_id) FROM customers").fetchone()
    assert stored is not None and stored[0] > 0
    again = DevProcess({**dev_env, "DATABASE_URL": database_url}, seed=6)
    run_dev.append(again)
    again.wait_for(rf"forgot the {stored[0]} contact ids")
    base = again.wait_for(r"starting the Brevo EMULATOR at (http://127\.0\.0\.1:\d+)/v3").group(1)
    again.wait_for(r"Ctrl-C stops everything")
    with psycopg.connect(database_url, autocommit=True) as db:
        deadline = time.monotonic() + SYNC_SECONDS
        while True:
            held = db.execute("SELECT lower(email), brevo_contact_id FROM customers"
                              " WHERE marketing_opt_in AND brevo_contact_id IS NOT NULL"
                              " ORDER BY email").fetchall()
            pending = db.execute("SELECT count(*) FROM brevo_sync.queue").fetchone()
            if pending == (0,) and len(held) == stored[0]:
                break
            assert time.monotonic() < deadline, (held, pending)
            time.sleep(0.2)
    contacts = {c["id"]: c for c in httpx.get(base + "/_emulator/contacts").json()["contacts"]}
    assert all(contacts[cid]["email"] == email for email, cid in held)
    assert again.interrupt() == 0


@pytest.mark.slow
def test_dev_with_nothing_configured_starts_an_embedded_postgres(
    run_dev: list[DevProcess], dev_env: dict[str, str]
) -> None:
    process = DevProcess(dev_env, seed=8)
    run_dev.append(process)
    process.wait_for(r"starting an embedded PostgreSQL")
    check_dev(process, seeded=8)
    again = DevProcess(dev_env, seed=8)  # the data stays; no second seeding
    run_dev.append(again)
    again.wait_for(r"8 customers already in the database: not seeding")
    again.wait_for(r"Ctrl-C stops everything")
    assert again.interrupt() == 0


ADMIN_SECRET = "owner-chose-this-password-7"


def start_up(process: DevProcess) -> tuple[str, str]:
    """Start-up read up to its ready line: (the admin URL, the DATABASE_URL printed)."""
    admin = process.wait_for(READY).group(1)
    printed = re.findall(r"^\s+DATABASE_URL:\s+(\S+)", "".join(process.lines), re.MULTILINE)
    assert len(printed) == 1, process.lines
    return admin, printed[0]


def after_ready(process: DevProcess) -> list[str]:
    """What dev itself said after its ready line (log lines aside): only that it stopped."""
    text = "".join(process.lines).splitlines()
    ready = next(i for i, line in enumerate(text) if re.match(READY, line))
    return [line for line in text[ready + 1:] if line.strip() and not line.startswith("{")]


@pytest.mark.slow
def test_dev_embedded_database_is_on_tcp_ready_comes_last_and_reset_empties_it(
    run_dev: list[DevProcess], dev_env: dict[str, str]
) -> None:
    """The printed URL works over TCP (psycopg, psql); the admin's own password is used and
    never printed; --reset starts from an empty database."""
    env = {**dev_env, "ADMIN_USER": "owner", "ADMIN_PASSWORD": ADMIN_SECRET}
    first = DevProcess(env, 3)
    run_dev.append(first)
    admin, dsn = start_up(first)
    text = "".join(first.lines)
    assert re.fullmatch(r"postgresql://postgres@127\.0\.0\.1:\d+/postgres", dsn)
    assert "Password:      (from ADMIN_PASSWORD)" in text and "User:          owner" in text
    assert text.index("listener_connected") < text.index("ready: admin at")
    with httpx.Client(base_url=admin, timeout=10) as http:  # serving when it says ready
        assert http.get("/admin/clients", auth=("admin", ADMIN_SECRET)).status_code == 401
        assert http.get("/admin/clients", auth=("owner", ADMIN_SECRET)).status_code == 200
    with psycopg.connect(dsn, autocommit=True) as db:
        server = db.execute("SELECT host(inet_server_addr()), count(*) FROM customers").fetchone()
        assert server == ("127.0.0.1", 3)  # TCP, not the unix socket: no address there
        db.execute("INSERT INTO customers (email, first_name, marketing_opt_in)"
                   " VALUES ('kept-before-reset@example.com', 'Kept', false)")
    if shutil.which("psql"):
        counted = subprocess.run(["psql", dsn, "-Atc", "SELECT count(*) FROM customers"],
                                 capture_output=True, text=True, timeout=30, check=True)
        assert counted.stdout.strip() == "4"
    assert first.interrupt() == 0
    assert after_ready(first) == ["brevo-sync dev: stopped"]
    assert ADMIN_SECRET not in "".join(first.lines)

    second = DevProcess(env, 2, "--reset")
    run_dev.append(second)
    _, dsn = start_up(second)
    assert "--reset: the embedded database was deleted" in "".join(second.lines)
    with psycopg.connect(dsn, autocommit=True) as db:
        emails = [row[0] for row in db.execute("SELECT email FROM customers").fetchall()]
    assert len(emails) == 2 and "kept-before-reset@example.com" not in emails
    assert second.interrupt() == 0


def test_dev_refuses_reset_of_a_database_it_was_given(
    dev_env: dict[str, str], database_url: str
) -> None:
    """--reset empties only dev's own embedded database: with DATABASE_URL set it stops at
    once (a configuration error), the given database untouched."""
    with psycopg.connect(database_url, autocommit=True) as db:
        before = db.execute("SELECT count(*) FROM customers").fetchone()
    result = subprocess.run(
        [sys.executable, "-m", "brevo_sync.cli", "dev", "--reset", "--port", "0"],
        env={**dev_env, "DATABASE_URL": database_url}, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--reset empties only dev's embedded database, and DATABASE_URL is set" in result.stderr
    with psycopg.connect(database_url, autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM customers").fetchone() == before
