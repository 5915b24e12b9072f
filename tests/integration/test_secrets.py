"""No secret in any output, whatever fails: every error path the CLI and the API can be driven
down here, as real processes, with everything they print (stdout, stderr, HTTP bodies) searched
for the database password, the Brevo key, CRON_SECRET and the admin password."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from brevo_sync.failures import EXIT_BREVO, EXIT_CONFIG, EXIT_DATABASE
from tests.support.processes import emulator_process, free_port, stop_process, wait_until_healthy

DB_PASSWORD = "db-pw-Zq81xLw"  # noqa: S105 - the secrets this test looks for
BREVO_KEY = "xkeysib-secret-7Hc2Pq0aa11bb22cc33"
CRON_SECRET = "cron-secret-Vb5tK9mN3rR7"  # noqa: S105
ADMIN_PASSWORD = "admin-pw-Jd4hW8yF2sL6"  # noqa: S105
SECRETS = {"database password": DB_PASSWORD, "Brevo key": BREVO_KEY,
           "CRON_SECRET": CRON_SECRET, "admin password": ADMIN_PASSWORD}


@dataclass
class Outputs:
    """What each error path printed or answered, searched at the end."""

    paths: list[str] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, *texts: str) -> None:
        self.paths.append(path)
        self.texts.extend((path, text) for text in texts)

    def log(self, path: str, text: str) -> None:
        """What a server wrote while its paths were driven: searched, not a path itself."""
        self.texts.append((path, text))

    def leaks(self) -> list[str]:
        return [f"{path}: the {name}" for path, text in self.texts
                for name, secret in SECRETS.items() if secret in text]


def dead_dsn() -> str:
    """A closed port, with a password in the URL: every connection is refused."""
    return f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{free_port()}/app"


def cli(*args: str, env: dict[str, str], timeout: float = 90
        ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DATABASE_URL", "BREVO_", "CRON_", "ADMIN_"))}
    return subprocess.run([sys.executable, "-m", "brevo_sync.cli", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout)


def one_line(result: subprocess.CompletedProcess[str], code: int, setting: str) -> None:
    """The command stopped with `code` and one line naming `setting`, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert lines and setting in lines[-1], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def brevo_refusing() -> Iterator[str]:
    """The emulator, expecting another key than BREVO_KEY: every call is a 401."""
    with emulator_process("--api-key", "xkeysib-the-only-valid-key") as base:
        yield base


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[str, Callable[[], str]]]:
    """`brevo-sync serve` as a process; yields its base URL and a function that stops it and
    returns all it wrote."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DATABASE_URL", "BREVO_", "CRON_", "ADMIN_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "brevo_sync.cli", "serve", "--port", str(port)],
        env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    written: list[str] = []

    def stop() -> str:
        if not written:
            stop_process(proc)  # type: ignore[arg-type]
            assert proc.stdout is not None
            with proc.stdout:
                written.append(proc.stdout.read().decode(errors="replace"))
        return written[0]

    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", proc,  # type: ignore[arg-type]
                           "brevo-sync serve", timeout=30)
        yield f"http://127.0.0.1:{port}", stop
    finally:
        stop()


def api_error_paths(base: str, outputs: Outputs, label: str) -> None:
    """Every request that can fail, each answered and recorded."""
    basic = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    wrong = "Basic " + base64.b64encode(b"admin:not-the-password-at-all").decode()
    admin = {"authorization": basic, "origin": base}
    requests: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
        ("cron, the right secret", "GET", "/api/cron/sync-brevo",
         {"authorization": f"Bearer {CRON_SECRET}"}, None),
        ("cron, a wrong secret", "GET", "/api/cron/sync-brevo",
         {"authorization": f"Bearer {CRON_SECRET}x"}, None),
        ("clients page", "GET", "/admin/clients", {"authorization": basic}, None),
        ("history page", "GET", "/admin/history", {"authorization": basic}, None),
        ("a wrong admin password", "GET", "/admin/clients", {"authorization": wrong}, None),
        ("views", "GET", "/api/admin/views/matched", {"authorization": basic}, None),
        ("a customer", "GET", "/api/admin/customers/00000000-0000-0000-0000-000000000001",
         {"authorization": basic}, None),
        ("push a customer", "POST",
         "/api/admin/customers/00000000-0000-0000-0000-000000000001/push", admin, None),
        ("sync all, malformed JSON", "POST", "/api/admin/customers/sync-all",
         {**admin, "content-type": "application/json"}, b'{"confirm": '),
        ("sync all", "POST", "/api/admin/customers/sync-all",
         {**admin, "content-type": "application/json"}, b'{"confirm": true}'),
        ("refresh Brevo", "POST", "/api/admin/brevo/refresh", admin, None),
        ("readyz", "GET", "/readyz", {}, None),
    ]
    with httpx.Client(base_url=base, timeout=60) as http:
        for name, method, path, headers, body in requests:
            answer = http.request(method, path, headers=headers, content=body)
            outputs.add(f"{label}: {name} ({answer.status_code})", answer.text,
                        str(answer.headers))
        # Raw bytes no client library would send: a non-ASCII Authorization header.
        answer = http.get("/admin/clients",
                          headers=[(b"authorization", b"Basic \xff\xfe" + ADMIN_PASSWORD.encode())])
        outputs.add(f"{label}: a non-ASCII Authorization ({answer.status_code})", answer.text)


@pytest.fixture
def brevo_accepting() -> Iterator[str]:
    with emulator_process() as base:
        yield base


@pytest.mark.slow
def test_no_error_path_prints_a_secret(database_url: str, brevo_refusing: str,
                                       brevo_accepting: str) -> None:
    outputs = Outputs()
    secrets_env = {"BREVO_API_KEY": BREVO_KEY, "CRON_SECRET": CRON_SECRET,
                   "ADMIN_PASSWORD": ADMIN_PASSWORD}

    # The database down: each command stops with one line and exit code 3.
    down = {**secrets_env, "DATABASE_URL": dead_dsn(), "BREVO_BASE_URL": brevo_refusing}
    for args in (["migrate"], ["status"], ["status", "--json"], ["reconcile"],
                 ["listen", "--once"]):
        result = cli(*args, env=down)
        one_line(result, EXIT_DATABASE, "DATABASE_URL")
        outputs.add(f"database down: {' '.join(args)}", result.stdout, result.stderr)
    result = cli("migrate", env={**down, "DATABASE_URL_UNPOOLED": dead_dsn()})
    one_line(result, EXIT_DATABASE, "DATABASE_URL_UNPOOLED")
    outputs.add("database down: migrate through DATABASE_URL_UNPOOLED", result.stderr)

    # The long-running listener with the database down keeps retrying: stopped after a few.
    listener = subprocess.Popen(
        [sys.executable, "-m", "brevo_sync.cli", "listen", "--metrics-port", "0"],
        env={**os.environ, **down, "BREVO_BASE_URL": brevo_accepting},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stderr is not None
        for line in listener.stderr:
            if line.count("listener_connect_failed") and "failures\": 3" in line:
                break
    finally:
        listener.send_signal(signal.SIGTERM)
        out, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    outputs.add("database down: listen", out, err)

    # Brevo refuses the key: exit code 4, one line naming BREVO_API_KEY.
    refused = {**secrets_env, "DATABASE_URL": database_url, "BREVO_BASE_URL": brevo_refusing,
               "BREVO_LIST_ID": "2"}
    for args in (["listen", "--once"], ["reconcile"]):
        result = cli(*args, env=refused)
        one_line(result, EXIT_BREVO, "BREVO_API_KEY")
        outputs.add(f"Brevo 401: {' '.join(args)}", result.stdout, result.stderr)
    # The long-running listener pauses instead (it resumes once Brevo takes a key): stopped
    # once it said so.
    listener = subprocess.Popen(
        [sys.executable, "-m", "brevo_sync.cli", "listen", "--metrics-port", "0"],
        env={**os.environ, **refused}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        assert listener.stderr is not None
        for line in listener.stderr:
            if "brevo_account_refused" in line:
                break
    finally:
        listener.send_signal(signal.SIGTERM)
        out, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    outputs.add("Brevo 401: listen", out, err)

    # Brevo unreachable: the client's bounded retries, then exit code 4.
    unreachable = {**refused, "BREVO_BASE_URL": f"http://127.0.0.1:{free_port()}/v3"}
    result = cli("listen", "--once", env=unreachable, timeout=120)
    one_line(result, EXIT_BREVO, "BREVO_BASE_URL")
    outputs.add("Brevo unreachable: listen --once", result.stdout, result.stderr)

    # Bad settings, some holding a secret: every problem listed, exit code 2, no value echoed.
    for name, env, settings in [
        ("three bad settings", {**down, "DATABASE_URL": f"mysql://app:{DB_PASSWORD}@h/db",
                                "BREVO_LIST_ID": "two", "BREVO_TIMEOUT_SECONDS": "-1"},
         ["DATABASE_URL", "BREVO_LIST_ID", "BREVO_TIMEOUT_SECONDS"]),
        ("a key with a newline", {**down, "BREVO_API_KEY": BREVO_KEY + "\n"},
         ["BREVO_API_KEY"]),
        ("a cron secret with spaces", {**down, "CRON_SECRET": f" {CRON_SECRET} "},
         ["CRON_SECRET"]),
        ("no database", {**secrets_env}, ["DATABASE_URL"]),
    ]:
        result = cli("status", env=env)
        assert result.returncode == EXIT_CONFIG, result.stderr
        lines = result.stderr.strip().splitlines()
        assert [s for s in settings if not any(s in line for line in lines)] == []
        assert len(lines) == len(settings), result.stderr
        outputs.add(f"bad settings: {name}", result.stdout, result.stderr)

    # The API with the database down, then with Brevo refusing the key.
    with serving({**down, "BREVO_LIST_ID": "2"}) as (base, stop):
        api_error_paths(base, outputs, "API, database down")
        outputs.log("API, database down: its log", stop())
    with serving(refused) as (base, stop):
        api_error_paths(base, outputs, "API, Brevo 401")
        outputs.log("API, Brevo 401: its log", stop())

    print(f"\nerror paths driven: {len(outputs.paths)}, outputs searched: {len(outputs.texts)}")
    print("\n".join(f"  {path}" for path in outputs.paths))
    assert outputs.leaks() == []
    assert len(outputs.paths) >= 40
    # The searches can fail: the outputs do carry what a leak would sit beside.
    assert any("cannot reach the database (DATABASE_URL)" in text for _, text in outputs.texts)
