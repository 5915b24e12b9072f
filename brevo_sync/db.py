"""Connections and the named SQL blocks in brevo_sync/sql/*.sql."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

import psycopg
from psycopg import sql
from psycopg.abc import Params, QueryNoTemplate
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from brevo_sync.tls import ensure_ca_roots

Conn: TypeAlias = psycopg.AsyncConnection[DictRow]
Pool: TypeAlias = AsyncConnectionPool[Conn]

# A time budget's end (time.monotonic()) for the statements run in this context; see
# `statement_deadline`. Tasks started in the context inherit it.
_deadline: ContextVar[float | None] = ContextVar("statement_deadline", default=None)
# A statement started at or past the deadline still gets this long: writes that record what
# was already done (an outcome, the run's end) must not be cut off the moment it passes.
MIN_STATEMENT_SECONDS = 2.0
_SET_TIMEOUT = "SELECT set_config('statement_timeout', %(ms)s, true)"

SQL_DIR = Path(__file__).with_name("sql")
_BLOCK = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)

# libpq keepalives find a half-open connection in about a minute instead of two hours.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "connect_timeout": 10,
}


def parse_blocks(text: str) -> dict[str, str]:
    """Split a .sql file into its `-- name: x` blocks."""
    parts = _BLOCK.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def queries() -> Mapping[str, str]:
    blocks: dict[str, str] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        for name, body in parse_blocks(path.read_text()).items():
            if name in blocks:
                raise RuntimeError(f"query {name!r} is defined twice (in {path.name})")
            blocks[name] = body
    return blocks


def q(name: str) -> str:
    return queries()[name]


@contextmanager
def statement_deadline(deadline: float | None) -> Iterator[None]:
    """Every statement run on a pool's connection in this block (and in tasks started in it)
    is cancelled by Postgres once `deadline` (time.monotonic()) has passed; None: no limit."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def timeout_ms(deadline: float, now: float) -> int:
    """The statement_timeout for a statement starting at `now`: what is left, with a floor."""
    return max(round((deadline - now) * 1000), round(MIN_STATEMENT_SECONDS * 1000))


class BudgetedConnection(psycopg.AsyncConnection[DictRow]):
    """A connection whose statements carry a statement_timeout of the budget left, inside a
    `statement_deadline` block. The timeout is set LOCAL in the statement's own transaction
    (or the one already open): a session-wide SET would not reliably reach the statement
    through a transaction pooler, and would stay on a server connection someone else gets."""

    # Template strings (psycopg's other overload) are not used here.
    async def execute(self, query: QueryNoTemplate,  # type: ignore[override]
                      params: Params | None = None, *,
                      prepare: bool | None = None, binary: bool = False
                      ) -> psycopg.AsyncCursor[DictRow]:
        deadline = _deadline.get()
        if deadline is None or query == "":
            return await super().execute(query, params, prepare=prepare, binary=binary)
        timeout = {"ms": str(timeout_ms(deadline, time.monotonic()))}
        if self.info.transaction_status != TransactionStatus.IDLE:
            await super().execute(_SET_TIMEOUT, timeout)
            return await super().execute(query, params, prepare=prepare, binary=binary)
        # One statement, one transaction, as in autocommit: its locks last no longer.
        async with self.transaction():
            await super().execute(_SET_TIMEOUT, timeout)
            return await super().execute(query, params, prepare=prepare, binary=binary)


def connect_kwargs(application_name: str) -> dict[str, Any]:
    ensure_ca_roots()
    return {**KEEPALIVES, "application_name": application_name}


async def connect(dsn: str, application_name: str = "brevo-sync", *, autocommit: bool = True
                  ) -> Conn:
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=autocommit, row_factory=dict_row, **connect_kwargs(application_name)
    )


def make_pool(dsn: str, application_name: str = "brevo-sync", *, min_size: int = 1,
              max_size: int = 4) -> Pool:
    """A pool whose connections are in autocommit: each statement commits on its own, so the
    sync never holds a lock between statements unless it opens a transaction on purpose."""
    return AsyncConnectionPool(
        dsn,
        connection_class=BudgetedConnection,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row, **connect_kwargs(application_name)},
        open=False,
        check=AsyncConnectionPool.check_connection,
    )


def compose(name: str, **parts: str) -> sql.Composed:
    """The named block `name` with its {placeholders} filled by SQL text from the caller's
    own whitelist (sort columns, WHERE clauses): never user input, which is bound."""
    return sql.SQL(q(name)).format(**{key: sql.SQL(value) for key, value in parts.items()})


async def scalar(conn: psycopg.AsyncConnection[Any], statement: sql.SQL | sql.Composed,
                 params: Mapping[str, Any]) -> int:
    """The `total` column of a one-row count."""
    row = await (await conn.execute(statement, params)).fetchone()
    assert row is not None
    return int(row["total"])
