"""Processes the tests and the benchmarks start: the emulator, a free port, a clean stop."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def emulator_process(*flags: str) -> Iterator[str]:
    """`brevo-sync fake-brevo` in its own process; yields its /v3 base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "brevo_sync.cli", "--log-level", "WARNING", "fake-brevo",
         "--port", str(port), *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base + "/healthz", proc, "the emulator", timeout=20)
        yield base + "/v3"
    finally:
        stop_process(proc)


def wait_until_healthy(url: str, proc: subprocess.Popen[bytes], what: str, *,
                       timeout: float) -> None:
    """Poll `url` until it answers 200; fail at once if the process exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{what} did not become healthy")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
