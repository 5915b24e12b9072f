"""Shared pieces of the benchmarks: scratch databases, an emulator process, bulk customers."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

from brevo_sync.migrate import migrate
from tests.support.processes import (  # noqa: F401 - the benchmarks import them from here
    emulator_process,
    free_port,
    stop_process,
    wait_until_healthy,
)

DEFAULT_ADMIN_URL = os.environ.get("BENCH_DATABASE_URL",
                                   "postgresql://postgres@127.0.0.1:5432/postgres")


def url_for(admin_url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + dbname))


@contextlib.contextmanager
def scratch_database(admin_url: str = DEFAULT_ADMIN_URL, *, migrated: bool = True
                     ) -> Iterator[str]:
    """A database made for one benchmark run and dropped after it."""
    name = f"brevo_sync_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_for(admin_url, name)
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def emulator_calls(base_v3: str) -> int:
    root = base_v3.removesuffix("/v3")
    return int(httpx.get(root + "/_emulator/calls", timeout=10).json()["total"])


def load_customers(url: str, count: int, *, opted_in: bool = True, prefix: str = "c",
                   queue: bool = True) -> None:
    """COPY `count` customers in. With queue=False the trigger is bypassed (no pending rows)."""
    flag = "t" if opted_in else "f"
    copy_customers(url, (f"{prefix}{i}@example.com\tFirst{i}\tLast{i}\t\\N\t{flag}\tf\n"
                         for i in range(count)), queue=queue)


def copy_customers(url: str, lines: Iterable[str], *, queue: bool = True) -> None:
    """COPY tab-separated (email, first_name, last_name, phone, marketing_opt_in,
    used_welcome_offer) lines into customers; queue=False bypasses the trigger."""
    buf = io.StringIO()
    buf.writelines(lines)
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            if not queue:
                conn.execute("SET LOCAL session_replication_role = replica")
            with conn.cursor().copy(
                "COPY customers (email, first_name, last_name, phone, marketing_opt_in,"
                " used_welcome_offer) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        conn.execute("ANALYZE customers")


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextlib.contextmanager
def listener_process(database_url: str, base_v3: str, *, env: dict[str, str] | None = None,
                     log_path: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """`brevo-sync listen` in its own process, healthy when yielded; SIGTERM at the end."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "BREVO_"))}
    environ.update({"DATABASE_URL": database_url, "BREVO_API_KEY": "xkeysib-bench",
                    "BREVO_BASE_URL": base_v3, "BREVO_LIST_ID": "2", **(env or {})})
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "brevo_sync.cli", "listen", "--metrics-port", str(port)],
        env=environ, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", proc, "the listener",
                           timeout=30)
        yield proc
    finally:
        stop_process(proc)
        log.close()
