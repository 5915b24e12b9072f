"""The queue's claim and batch releases under statistics that say the queue is empty."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from brevo_sync.db import q

BACKLOG = 50_000
# Far above what these statements take at 50,000 rows with an index-driven plan (well under
# a second), far below what the plans they replace took (over a minute): a bound, not a timing.
BOUND = "15s"


def stale_backlog(db: psycopg.Connection[Any], rows: int = BACKLOG) -> None:
    """What an idle queue's autoanalyze leaves behind, then a resync: the statistics say empty
    (with pages left from earlier work) while `rows` rows are pending and ready."""
    db.execute("ALTER TABLE brevo_sync.queue SET (autovacuum_enabled = false)")
    db.execute("INSERT INTO brevo_sync.queue (customer_id) SELECT gen_random_uuid()"
               " FROM generate_series(1, %s)", (rows,))
    db.execute("DELETE FROM brevo_sync.queue")
    db.execute("ANALYZE brevo_sync.queue")
    db.execute("INSERT INTO brevo_sync.queue (customer_id, first_queued_at)"
               " SELECT gen_random_uuid(), now() - make_interval(secs => i)"
               " FROM generate_series(1, %s) AS i", (rows,))
    stats = db.execute("SELECT reltuples FROM pg_class"
                       " WHERE oid = 'brevo_sync.queue'::regclass").fetchone()
    assert stats is not None and stats["reltuples"] == 0, "the statistics must say empty"


def plan(db: psycopg.Connection[Any], name: str, params: dict[str, Any]) -> str:
    rows = db.execute(f"EXPLAIN (COSTS OFF) {q(name)}", params).fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


def claim(db: psycopg.Connection[Any], limit: int, worker: str = "w1") -> list[uuid.UUID]:
    rows = db.execute(q("claim"), {"limit": limit, "lease": 60, "worker": worker}).fetchall()
    return [r["customer_id"] for r in rows]


def test_claim_of_a_backlog_the_statistics_call_empty_stays_index_driven(db: Any) -> None:
    """50,000 rows behind statistics that say none: the claim reads an index in claim order
    and stops at its limit, and finishes within a bound the old plan overran by minutes."""
    stale_backlog(db)
    shown = plan(db, "claim", {"limit": 20_000, "lease": 60, "worker": "w1"})
    assert "Nested Loop" not in shown and "Sort" not in shown, shown
    assert "Index Scan using queue_first_queued_idx" in shown, shown
    assert "Limit" in shown.split("CTE ready", 1)[1].splitlines()[1], shown
    db.execute(f"SET statement_timeout = '{BOUND}'")
    claimed = claim(db, 20_000)
    oldest = db.execute("SELECT customer_id FROM brevo_sync.queue"
                        " ORDER BY first_queued_at LIMIT 20000").fetchall()
    assert set(claimed) == {r["customer_id"] for r in oldest}


def test_an_admin_claim_of_one_row_reads_one_row(db: Any) -> None:
    """claim_one goes by key, not through a join that reads the whole backlog."""
    stale_backlog(db)
    row = db.execute("SELECT customer_id FROM brevo_sync.queue LIMIT 1").fetchone()
    params = {"customer_id": row["customer_id"], "lease": 60, "worker": "admin"}
    shown = plan(db, "claim_one", params)
    assert "Nested Loop" not in shown and "Seq Scan" not in shown, shown
    assert [r["customer_id"] for r in db.execute(q("claim_one"), params).fetchall()] == [
        row["customer_id"]]
    assert db.execute(q("claim_one"), params).fetchall() == [], "already leased"


@pytest.mark.parametrize("limit", [1, 20, 777])
def test_a_claim_of_n_leases_at_most_n_rows(db: Any, limit: int) -> None:
    """LIMIT is honoured exactly, with the statistics that once made the claim lease 27 for
    20 (its LIMIT subquery run again by a join)."""
    stale_backlog(db, 2_000)
    assert len(claim(db, limit)) == limit
    leased = db.execute("SELECT count(*) AS n FROM brevo_sync.queue"
                        " WHERE claimed_by = 'w1'").fetchone()
    assert leased["n"] == limit


def test_a_claim_skips_rows_another_transaction_holds(db: Any, database_url: str) -> None:
    """SKIP LOCKED is kept: rows locked elsewhere are neither waited for nor leased."""
    stale_backlog(db, 100)
    with psycopg.connect(database_url) as other:
        held = [r[0] for r in other.execute(
            "SELECT customer_id FROM brevo_sync.queue ORDER BY first_queued_at LIMIT 10"
            " FOR UPDATE").fetchall()]
        db.execute("SET lock_timeout = '1s'")
        claimed = claim(db, 50)
        other.rollback()
    assert len(claimed) == 50 and not set(held) & set(claimed)


@pytest.mark.parametrize("name", ["release_unclaimed_batch", "release_done_batch",
                                  "release_retry_batch"])
def test_batch_releases_of_a_bulk_lease_stay_bounded(db: Any, name: str) -> None:
    """Handing back 20,000 leased rows of a 50,000-row backlog the statistics call empty."""
    stale_backlog(db)
    ids = claim(db, 20_000)
    params: dict[str, Any] = {"customer_ids": ids, "worker": "w1",
                              "versions": [1] * len(ids), "delays": [5.0] * len(ids),
                              "errors": ["x"] * len(ids)}
    shown = plan(db, name, params)
    assert "Nested Loop" not in shown, shown
    db.execute(f"SET statement_timeout = '{BOUND}'")
    handled = db.execute(q(name), params).fetchall()
    assert len(handled) == len(ids)
