"""How fast the admin views answer at scale, over HTTP on loopback.

Creates a scratch database, bulk-loads 100,000 customers and 100,000 mirrored contacts with
COPY, serves the API with uvicorn on 127.0.0.1, then times each view's first page, a page in
the middle (the deepest a page can cost, see brevo_sync.views.page_window) and a search.
Prints p50/p95 per request kind; the target is p95 <= 100 ms. The views' unsearched totals
are shared for 5 s (api/totals.py): the "totals uncached" rows show a first visit, which also
counts the four tabs. The scratch database is dropped at the end.

    python bench/bench_views.py [--customers N] [--contacts N] [--repeat R]
    (server: $BENCH_DATABASE_URL, else $TEST_DATABASE_URL, else the local PostgreSQL)
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import uvicorn
from psycopg import sql

from api.app import create_app
from brevo_sync.config import Settings
from brevo_sync.emulator import create_app as create_emulator
from brevo_sync.migrate import migrate
from brevo_sync.seed import FIRST_NAMES, LAST_NAMES

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = secrets.token_urlsafe(16)
TARGET_P95_MS = 100.0



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per kind")
    args = parser.parse_args(argv)
    server = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or DEFAULT_SERVER
    )
    with scratch_database(server) as url:
        started = time.perf_counter()
        load(url, args.customers, args.contacts)
        print(
            f"loaded {args.customers:,} customers and {args.contacts:,} contacts "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        with serve(url) as (base, app):
            results = run(base, app, args.repeat)
    return report(results)


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"brevo_sync_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def load(url: str, customers: int, contacts: int) -> None:
    """Customers (85 % opted in), the opted-in ones mirrored until `contacts` is reached in
    part, the rest of the mirror Brevo-only; sync state, a few queued rows, some history."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    people = [_person(rng, i, now) for i in range(customers)]
    matched = [p for p in people if p.opt_in][: int(contacts * 0.8)]
    with psycopg.connect(url, autocommit=True) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY public.customers (id, email, first_name, last_name, phone, marketing_opt_in,"
                " used_welcome_offer, brevo_contact_id, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            contact_ids = {p.id: n + 1 for n, p in enumerate(matched)}
            for p in people:
                copy.write_row(
                    (
                        p.id,
                        p.email,
                        p.first,
                        p.last,
                        p.phone,
                        p.opt_in,
                        p.offer,
                        contact_ids.get(p.id),
                        p.created,
                        p.created,
                    )
                )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY brevo_sync.contacts (id, email, first_name, last_name, sms,"
                " used_welcome_offer, list_ids, email_blacklisted, created_at, modified_at)"
                " FROM STDIN"
            ) as copy,
        ):
            for n, p in enumerate(matched):
                copy.write_row(
                    (
                        n + 1,
                        p.email.lower(),
                        p.first,
                        p.last,
                        _digits(p.phone),
                        p.offer,
                        [2],
                        False,
                        p.created,
                        p.created,
                    )
                )
            for n in range(len(matched), contacts):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                copy.write_row(
                    (
                        n + 1,
                        f"lead{n}@brevo-only.example",
                        first,
                        last,
                        None,
                        False,
                        [2],
                        rng.random() < 0.05,
                        now,
                        now,
                    )
                )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY brevo_sync.sync_state (customer_id, email, brevo_contact_id, status,"
                " last_synced_at, last_attempt_at, last_error, last_error_code) FROM STDIN"
            ) as copy,
        ):
            for n, p in enumerate(matched):
                failed = n % 97 == 0
                copy.write_row(
                    (
                        p.id,
                        p.email.lower(),
                        n + 1,
                        "error" if failed else "synced",
                        None if failed else now,
                        now,
                        "Invalid phone number" if failed else None,
                        "invalid_parameter" if failed else None,
                    )
                )
        # The trigger queued every COPYed customer; keep a realistic handful pending.
        conn.execute("TRUNCATE brevo_sync.queue")
        conn.execute(
            "INSERT INTO brevo_sync.queue (customer_id) "
            "SELECT id FROM public.customers WHERE marketing_opt_in "
            "ORDER BY created_at DESC LIMIT 500"
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY brevo_sync.history (at, customer_id, email, action, outcome,"
                " brevo_contact_id, message, source) FROM STDIN"
            ) as copy,
        ):
            for n, p in enumerate(matched):
                copy.write_row(
                    (
                        now - timedelta(seconds=n),
                        p.id,
                        p.email.lower(),
                        "create",
                        "ok",
                        n + 1,
                        None,
                        "listener",
                    )
                )
        conn.execute("VACUUM ANALYZE")


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    email: str
    first: str
    last: str
    phone: str | None
    opt_in: bool
    offer: bool
    created: datetime


def _person(rng: random.Random, i: int, now: datetime) -> Person:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    phone = f"+33 6 {rng.randrange(10**8):08d}" if rng.random() < 0.5 else None
    return Person(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        # A third in mixed case: matching lower-cases both sides, as the sync does.
        email=f"customer{i:06d}@example.com" if i % 3 else f"Customer{i:06d}@Example.com",
        first=first,
        last=last,
        phone=phone,
        opt_in=rng.random() < 0.85,
        offer=rng.random() < 0.3,
        created=now - timedelta(minutes=i),
    )


def _digits(phone: str | None) -> str | None:
    return "".join(ch for ch in phone if ch.isdigit()) if phone else None


@contextmanager
def serve(url: str) -> Iterator[tuple[str, Any]]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": url,
            "BREVO_API_KEY": "bench-key",
            "BREVO_BASE_URL": "http://brevo.bench/v3",
            "ADMIN_PASSWORD": PASSWORD,
        }
    )
    app = create_app(settings, brevo_transport=httpx.ASGITransport(app=create_emulator()))
    sock = tcp_socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def tcp_socket() -> socket.socket:
    """proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    without it every answer on a kept-alive connection waits 40 ms for a delayed ACK."""
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def run(base: str, app: Any, repeat: int) -> dict[str, list[float]]:
    """Each kind of request `repeat` times. The views' unsearched totals are cached for a few
    seconds (api/totals.py); "uncached" requests clear that cache first, to show the cost a
    first visit pays."""
    timings: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, auth=("admin", PASSWORD), timeout=30) as http:
        for view in ("neon", "brevo", "matched", "unmatched"):
            path = f"/api/admin/views/{view}"
            first = http.get(path, params={"per_page": 50}).json()
            middle = max(1, (first["pages"] + 1) // 2)
            kinds = {
                "first page": {"per_page": 50},
                f"page {middle} of {first['pages']}": {"per_page": 50, "page": middle},
                "search": {"per_page": 50, "q": "müller" if view != "brevo" else "lead12"},
                "sorted by name": {"per_page": 50, "sort": "name"},
            }
            if view != "brevo":  # every other order of a customer view, both ways for some
                kinds["sorted by created"] = {"per_page": 50, "sort": "created"}
                kinds["sorted by opt-in"] = {"per_page": 50, "sort": "opt_in"}
                # Orders that read the sync's own tables.
                kinds["sorted by status"] = {"per_page": 50, "sort": "status"}
                kinds["sorted by status, desc"] = {
                    "per_page": 50, "sort": "status", "dir": "desc"}
                kinds["sorted by in Brevo"] = {"per_page": 50, "sort": "in_brevo"}
                kinds["sorted by last synced"] = {"per_page": 50, "sort": "last_synced"}
                kinds["sorted by last synced, desc"] = {
                    "per_page": 50, "sort": "last_synced", "dir": "desc"}
            for kind, params in kinds.items():
                key = f"{view:<10} {kind}"
                http.get(path, params=params).raise_for_status()  # warm up
                timings[key] = [_timed(http, path, params) for _ in range(repeat)]
            timings[f"{view:<10} first page, totals uncached"] = [
                _timed(http, path, {"per_page": 50}, before=app.state.totals.clear)
                for _ in range(repeat)
            ]
        for label, path in (
            ("tab counts", "/api/admin/views"),
            ("sync-all status", "/api/admin/customers/sync-all"),
            ("summary", "/api/admin/summary"),
            ("clients page (HTML)", "/admin/clients"),
        ):
            http.get(path).raise_for_status()
            timings[f"{label:<10}"] = [_timed(http, path, {}) for _ in range(repeat)]
    return timings


def _timed(
    http: httpx.Client,
    path: str,
    params: dict[str, object],
    before: Callable[[], None] | None = None,
) -> float:
    if before is not None:
        before()
    started = time.perf_counter()
    response = http.get(path, params=params)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def report(timings: dict[str, list[float]]) -> int:
    print(f"{'request':<40} {'p50 ms':>8} {'p95 ms':>8}")
    worst = 0.0
    for key, values in timings.items():
        p50 = statistics.median(values)
        p95 = statistics.quantiles(values, n=20, method="inclusive")[18]
        if not key.startswith(("tab counts", "sync-all")) and "uncached" not in key:
            worst = max(worst, p95)
        print(f"{key:<40} {p50:8.1f} {p95:8.1f}")
    verdict = "within" if worst <= TARGET_P95_MS else "OVER"
    print(
        f"worst view p95 (totals cached): {worst:.1f} ms ({verdict} the "
        f"{TARGET_P95_MS:.0f} ms target)"
    )
    return 0 if worst <= TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
