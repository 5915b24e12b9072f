"""The overview's figures against a real PostgreSQL, as JSON and as the page."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from itertools import pairwise
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from brevo_sync.db import Pool
from brevo_sync.overview import HOURS, read_overview
from tests.factories import add_customers
from tests.support.admin_app import client

pytestmark = pytest.mark.anyio
Db = psycopg.Connection[dict[str, Any]]


def history(db: Db, hours_ago: float, action: str, outcome: str, n: int = 1) -> None:
    db.execute(
        "INSERT INTO brevo_sync.history (at, customer_id, action, outcome, source)"
        " SELECT date_trunc('hour', now(), 'UTC') - make_interval(hours => %s) + interval '1 s',"
        " gen_random_uuid(), %s, %s, 'listener' FROM generate_series(1, %s)",
        (hours_ago, action, outcome, n))


def listener_row(db: Db, worker: str, *, seen_ago: float, stopped: bool = False) -> None:
    db.execute(
        "INSERT INTO brevo_sync.listeners (worker, host, pid, started_at, last_seen, stopped_at)"
        " VALUES (%s, 'box', 42, now() - interval '1 hour',"
        " now() - make_interval(secs => %s),"
        " CASE WHEN %s THEN now() - make_interval(secs => %s) END)",
        (worker, seen_ago, stopped, seen_ago))


def sweep(db: Db, minutes_ago: int, status: str, counts: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO brevo_sync.runs"
        " (kind, source, started_at, finished_at, status, counts, message)"
        " VALUES ('reconcile', 'cron', now() - make_interval(mins => %s),"
        " now() - make_interval(mins => %s) + interval '30 s', %s, %s, %s)",
        (minutes_ago, minutes_ago, status, json.dumps(counts), f"run {minutes_ago} min ago"))


async def test_the_queue_depth_and_its_oldest_row(db: Db, pool: Pool) -> None:
    ids = add_customers(db, 3)
    db.execute("UPDATE brevo_sync.queue SET first_queued_at = now() - interval '10 minutes'"
               " WHERE customer_id = %s", (ids[0],))
    db.execute("UPDATE brevo_sync.queue SET next_attempt_at = now() + interval '1 minute'"
               " WHERE customer_id = %s", (ids[1],))
    async with pool.connection() as conn:
        queue = (await read_overview(conn)).queue
    assert (queue.pending, queue.ready, queue.retrying, queue.in_flight) == (3, 2, 1, 0)
    assert queue.oldest_seconds is not None and 600 <= queue.oldest_seconds < 660


async def test_an_empty_queue_has_no_oldest_row(pool: Pool) -> None:
    async with pool.connection() as conn:
        queue = (await read_overview(conn)).queue
    assert (queue.pending, queue.oldest_seconds, queue.oldest_queued_at) == (0, None, None)


async def test_pushes_and_failures_are_counted_per_hour_over_48_hours(db: Db, pool: Pool
                                                                       ) -> None:
    history(db, 0, "create", "ok", 3)
    history(db, 0, "update", "ok")
    history(db, 0, "none", "ok", 5)        # in sync already: not a push
    history(db, 0, "unsubscribe", "ok")    # Brevo -> Neon: not a push
    history(db, 2, "remove", "ok", 2)
    history(db, 2, "reject", "error")
    history(db, 2, "update", "retry", 4)
    history(db, 47, "create", "ok", 7)     # the window's first hour
    history(db, 48, "create", "ok", 100)   # before the window
    async with pool.connection() as conn:
        hours = (await read_overview(conn)).hours
    assert len(hours) == HOURS
    assert all((b.hour - a.hour).total_seconds() == 3600 for a, b in pairwise(hours))
    assert (hours[-1].pushes, hours[-1].failures, hours[-1].retries) == (4, 0, 0)
    assert (hours[-3].pushes, hours[-3].failures, hours[-3].retries) == (2, 5, 4)
    assert (hours[0].pushes, hours[0].failures) == (7, 0)
    assert sum(h.pushes for h in hours) == 13 and sum(h.failures for h in hours) == 5


def history_now(db: Db, action: str, outcome: str, n: int = 1) -> None:
    """As the sync writes it: at the time of the statement."""
    db.execute("INSERT INTO brevo_sync.history (customer_id, action, outcome, source)"
               " SELECT gen_random_uuid(), %s, %s, 'listener' FROM generate_series(1, %s)",
               (action, outcome, n))


async def test_settled_rows_are_counted_once_and_newer_ones_on_every_read(
        db: Db, pool: Pool) -> None:
    history(db, 3, "create", "ok", 2)
    history_now(db, "create", "ok")
    async with pool.connection() as conn:
        first = (await read_overview(conn)).hours
    kept = db.execute("SELECT count(*) AS n, sum(pushes) AS pushes,"
                      " bool_and(counted_until <= now() - interval '59 s') AS settled"
                      " FROM brevo_sync.history_hours").fetchone()
    assert kept is not None and kept["n"] == 48 and kept["settled"]
    assert kept["pushes"] == 2  # the row just written is counted live, not kept
    history_now(db, "update", "ok", 4)     # new rows: counted on the next read
    history(db, 3, "update", "ok", 100)    # backdated into a settled hour: kept as counted
    async with pool.connection() as conn:
        second = (await read_overview(conn)).hours
    assert (first[-1].pushes, second[-1].pushes) == (1, 5)
    assert first[-4].pushes == second[-4].pushes == 2


async def test_two_overviews_at_once_count_each_row_once(db: Db, pool: Pool) -> None:
    history(db, 5, "create", "ok", 3)
    history(db, 1, "update", "error", 2)
    async def totals() -> tuple[int, int]:
        async with pool.connection() as conn:
            overview = await read_overview(conn)
        return sum(h.pushes for h in overview.hours), sum(h.failures for h in overview.hours)

    results = await asyncio.gather(*(totals() for _ in range(6)))
    assert set(results) == {(3, 2)}
    assert await totals() == (3, 2)


async def test_the_last_sweeps_newest_first_with_their_counts(db: Db, pool: Pool) -> None:
    for n in range(12):
        sweep(db, 60 * (n + 1), "done", {"synced": n, "failed": 0, "drift_found": n})
    sweep(db, 1, "partial", {"synced": 5, "failed": 2, "remaining": 9})
    db.execute("INSERT INTO brevo_sync.runs (kind, source, status) VALUES ('drain', 'cli', 'done')")
    async with pool.connection() as conn:
        sweeps = (await read_overview(conn)).sweeps
    assert len(sweeps) == 10
    assert sweeps[0].status == "partial" and sweeps[0].counts["remaining"] == 9
    assert [s.counts.get("synced") for s in sweeps[1:]] == list(range(9))
    assert 29 <= sweeps[0].seconds <= 31


async def test_listeners_running_first_then_silent_and_stopped(db: Db, pool: Pool) -> None:
    listener_row(db, "a:1:old", seen_ago=600)
    listener_row(db, "b:2:run", seen_ago=1)
    listener_row(db, "c:3:gone", seen_ago=60, stopped=True)
    async with pool.connection() as conn:
        overview = await read_overview(conn)
    assert [(b.worker, b.state) for b in overview.listeners] == [
        ("b:2:run", "running"), ("c:3:gone", "stopped"), ("a:1:old", "silent")]
    assert overview.listeners_running == 1


async def test_the_account_pause_is_part_of_the_overview(db: Db, pool: Pool) -> None:
    db.execute("INSERT INTO brevo_sync.account_pause (status, code, reason, source)"
               " VALUES (401, 'unauthorized', 'Key not found', 'listener')")
    async with pool.connection() as conn:
        data = (await read_overview(conn)).as_json()
    assert data["account"]["state"] == "paused"
    assert data["account"]["paused"]["reason"] == "Key not found"


# -- over HTTP -------------------------------------------------------------------------------


async def test_the_json_route_needs_the_admin(app: Starlette) -> None:
    async with client(app, auth=None) as anonymous:
        response = await anonymous.get("/api/admin/overview")
    assert response.status_code == 401 and "error" in response.json()
    async with client(app, auth=("admin", "wrong password!")) as wrong:
        assert (await wrong.get("/api/admin/overview")).status_code == 401
    async with client(app, auth=None) as anonymous:
        assert (await anonymous.get("/admin")).status_code == 401


async def test_the_json_shape(db: Db, http: httpx.AsyncClient) -> None:
    add_customers(db, 2)
    history(db, 1, "create", "ok", 2)
    listener_row(db, "b:2:run", seen_ago=1)
    sweep(db, 5, "done", {"synced": 2})
    response = await http.get("/api/admin/overview")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"generated_at", "account", "listeners", "listeners_running", "queue",
                         "activity", "sweeps"}
    assert data["account"] == {"state": "ok", "paused": None}
    assert data["listeners_running"] == 1
    assert set(data["listeners"][0]) == {"worker", "host", "pid", "started_at", "last_seen",
                                         "stopped_at", "seen_seconds_ago", "state", "running",
                                         "summary"}
    assert data["listeners"][0]["summary"].startswith("running, last seen ")
    assert data["queue"]["pending"] == 2 and data["queue"]["oldest_seconds"] >= 0
    assert set(data["queue"]) == {"pending", "ready", "in_flight", "retrying",
                                  "oldest_queued_at", "oldest_seconds"}
    activity = data["activity"]
    assert activity["hours"] == 48 and len(activity["per_hour"]) == 48
    assert (activity["pushes"], activity["failures"]) == (2, 0)
    assert activity["per_hour"][-2]["pushes"] == 2
    assert data["sweeps"][0]["counts"] == {"synced": 2} and data["sweeps"][0]["status"] == "done"


async def test_the_page_shows_every_part(db: Db, http: httpx.AsyncClient) -> None:
    history(db, 3, "update", "ok", 12)
    history(db, 3, "update", "error", 2)
    listener_row(db, "box:42:aaaaaa", seen_ago=2)
    listener_row(db, "box:43:bbbbbb", seen_ago=30, stopped=True)
    sweep(db, 5, "done", {"synced": 7, "failed": 1, "drift_found": 8})
    response = await http.get("/admin")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    page = response.text
    assert '<a href="/admin" aria-current="page">Overview</a>' in page
    assert re.search(r'data-state="running">\s*<span class="badge ok">running</span>\s*'
                     r'<span class="summary">running, last seen [0-9] s ago</span>', page)
    assert re.search(r'data-state="stopped">\s*<span class="badge error">not running</span>\s*'
                     r'<span class="summary">not running since [0-9: -]+ UTC \(stopped\)', page)
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="activity-chart"' in page
    assert 'data-value="12"' in page and "Over the last 48 hours: 12 pushes and 2 failures" in page
    assert '<table class="rows" id="activity-table">' in page
    assert re.search(r'data-run="\d+">.*?<td>8</td>\s*<td>7</td>\s*<td>1</td>', page, re.S)
    assert "No refusal recorded" in page and "<script>" not in page.split("</head>")[1]


async def test_the_page_leads_with_a_pause(db: Db, http: httpx.AsyncClient) -> None:
    db.execute("INSERT INTO brevo_sync.account_pause (status, code, reason, source)"
               " VALUES (402, 'not_enough_credits', 'Not enough credits', 'cron')")
    page = (await http.get("/admin")).text
    main = page.split("<main>")[1]
    assert 'id="brevo-paused"' in page.split("<main>")[0]  # the banner every page shows
    first = main.index('id="account"')
    assert first < main.index('id="listeners"') < main.index('id="queue"')
    assert "Brevo refuses the account since" in main and "Not enough credits" in main


async def test_the_page_says_when_no_listener_ever_ran(http: httpx.AsyncClient) -> None:
    page = (await http.get("/admin")).text
    assert "No listener has recorded a heartbeat" in page
    assert "No sweep has run yet" in page
    assert "Over the last 48 hours: 0 pushes and 0 failures; nothing was pushed." in page


async def test_root_leads_to_the_overview(http: httpx.AsyncClient) -> None:
    response = await http.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin"


async def test_a_run_with_odd_counts_still_renders(db: Db, http: httpx.AsyncClient) -> None:
    sweep(db, 5, "failed", {"synced": "many", "phase": "failed"})
    response = await http.get("/admin")
    assert response.status_code == 200 and "—" in response.text
    assert str(uuid.UUID(int=0)) not in response.text
