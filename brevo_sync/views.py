"""The admin page's four views: paginated, searchable, sortable reads with their totals.

Neon is every customer; Brevo every mirrored contact (those no customer owns are marked);
Matched the customers whose email a mirrored contact holds; Unmatched the opted-in customers
Brevo lacks. Matching is by email, case-insensitive, as everywhere in the sync.

Parsing the query string is pure (a bad value raises ViewError, an HTTP 400); the sort
columns are whitelisted here, and user text reaches SQL only as bound parameters. The SQL is
in sql/views.sql; why each view costs what it does at 100,000 rows is told where it is read.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.pq import TransactionStatus

from brevo_sync import differs
from brevo_sync.db import compose, q, scalar
from brevo_sync.normalize import phone_problem
from brevo_sync.params import MAX_PAGE, ParamError, iso, parse_int, text_param

View = Literal["neon", "brevo", "matched", "unmatched"]
VIEWS: tuple[View, ...] = ("neon", "brevo", "matched", "unmatched")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 250
# What the page's per-page selector offers (any value from 1 to MAX_PER_PAGE is taken).
PER_PAGE_CHOICES = (25, 50, 100, 250)
MAX_SEARCH = 100
# A sweep row still 'running' after this long belongs to a process that died.
RUNNING_MAX_AGE_SECONDS = 3600.0

_CUSTOMER_SORTS: dict[str, tuple[str, ...]] = {
    "email": ("sort_email",),
    "name": ("sort_last", "sort_first"),
    "created": ("created_at",),
    "opt_in": ("sort_opt_in",),
    "status": ("sort_status",),
    "in_brevo": ("sort_in_brevo",),
    "last_synced": ("sort_last_synced",),
}
# Sorts on what the sync's own tables hold: their keys are read with those tables joined
# (view_customer_keys_state), which the other sorts need not pay for.
STATE_SORTS = frozenset({"status", "in_brevo", "last_synced"})
# Sorts an index serves at any depth; the others are served MAX_SCAN_OFFSET rows deep.
INDEXED_SORTS: dict[View, frozenset[str]] = {
    "neon": frozenset({"email"}),
    "matched": frozenset({"email"}),
    "unmatched": frozenset(),
    "brevo": frozenset({"email", "name", "modified", "id"}),
}
MAX_SCAN_OFFSET = 10_000
_CUSTOMER_VIEWS: frozenset[View] = frozenset({"neon", "matched", "unmatched"})
# Index rows a page of a grouped order (SORT_GROUPS) may walk before it is sorted whole
# instead: enough for the first pages when groups are not sparse, a few ms of probes.
WALK_BUDGET = 600


@dataclass(frozen=True)
class SortGroup:
    """The rows of a sort that share one value of its key, walked in order along an index
    that holds them all (`driver`, a view_driver_* block), kept by `test` (a view_group_*
    block, taking `value`; `state` picks the sync state view_driver_state reads). `views`
    are those that can hold such rows: the others skip the walk, which would find none."""

    driver: str
    test: str
    value: int | bool | None = None
    state: str | None = None
    views: frozenset[View] = _CUSTOMER_VIEWS


# Unmatched holds only opted-in customers Brevo lacks; Matched only customers Brevo holds.
_BUT_UNMATCHED: frozenset[View] = frozenset({"neon", "matched"})
_BUT_MATCHED: frozenset[View] = frozenset({"neon", "unmatched"})
# The orders too costly to sort whole (their keys span the sync's tables, or take two values
# over all the customers), as their groups in ascending order: a page walks the groups in
# turn and stops after its rows. Ties in a group are broken by id, as `order_by` does.
SORT_GROUPS: dict[str, tuple[SortGroup, ...]] = {
    "status": (
        SortGroup("view_driver_state", "view_group_status", 0, "error"),
        SortGroup("view_driver_queue", "view_group_status", 1),
        SortGroup("view_driver_queue", "view_group_status", 2),
        SortGroup("view_driver_state", "view_group_status", 3, "synced", _BUT_MATCHED),
        SortGroup("view_driver_customers", "view_group_status", 4),
        SortGroup("view_driver_state", "view_group_status", 5, "synced", _BUT_UNMATCHED),
        SortGroup("view_driver_state", "view_group_status", 6, "removed"),
        SortGroup("view_driver_customers", "view_group_status", 7, views=_BUT_UNMATCHED),
    ),
    "in_brevo": (
        SortGroup("view_driver_customers", "view_group_in_brevo", False, views=_BUT_MATCHED),
        SortGroup("view_driver_customers", "view_group_in_brevo", True, views=_BUT_UNMATCHED),
    ),
    "opt_in": (
        SortGroup("view_driver_customers", "view_group_opt_in", False, views=_BUT_UNMATCHED),
        SortGroup("view_driver_customers", "view_group_opt_in", True),
    ),
    # Nulls last going up, as ORDER BY puts them.
    "last_synced": (
        SortGroup("view_driver_pushes", "view_group_pushed"),
        SortGroup("view_driver_customers", "view_group_never_pushed"),
    ),
}
# Sort key -> output columns of the page query; `id` is always added last, so equal keys
# still give every row one place and pages never overlap.
SORTS: dict[View, dict[str, tuple[str, ...]]] = {
    "neon": _CUSTOMER_SORTS,
    "matched": _CUSTOMER_SORTS,
    "unmatched": _CUSTOMER_SORTS,
    "brevo": {
        "email": ("sort_email",),
        "name": ("sort_last", "sort_first"),
        "modified": ("modified_at",),
        "id": (),
    },
}

# The views' name for a bad query-string value (brevo_sync/params.py, shared with history).
ViewError = ParamError


class UnknownView(ViewError):
    pass


@dataclass(frozen=True)
class ViewQuery:
    view: View
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    search: str | None = None
    sort: str = "email"
    dir: Literal["asc", "desc"] = "asc"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def as_params(self) -> dict[str, str]:
        """The query string that gives this view back (for links on the page)."""
        params = {
            "view": self.view,
            "page": str(self.page),
            "per_page": str(self.per_page),
            "sort": self.sort,
            "dir": self.dir,
        }
        if self.search:
            params["q"] = self.search
        return params


@dataclass(frozen=True)
class ViewPage:
    """`query.page` is the page shown: a page past the end is clamped to the last one, and
    `clamped_from` then holds the page that was asked for."""

    query: ViewQuery
    total: int
    rows: list[dict[str, Any]]
    clamped_from: int | None = None

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.query.per_page))

    def as_json(self) -> dict[str, Any]:
        return {
            "view": self.query.view,
            "page": self.query.page,
            "clamped_from": self.clamped_from,
            "per_page": self.query.per_page,
            "pages": self.pages,
            "total": self.total,
            "q": self.query.search,
            "sort": self.query.sort,
            "dir": self.query.dir,
            "rows": self.rows,
        }


# --- parsing (pure) -------------------------------------------------------------------------


def parse_view_query(view: str, params: Mapping[str, str]) -> ViewQuery:
    if view not in VIEWS:
        raise UnknownView(f"unknown view {clip(view)!r}: use one of {', '.join(VIEWS)}")
    name: View = view
    sort = params.get("sort") or "email"
    if sort not in SORTS[name]:
        raise ViewError(f"sort must be one of {', '.join(SORTS[name])}")
    direction = params.get("dir") or "asc"
    if direction not in ("asc", "desc"):
        raise ViewError("dir must be asc or desc")
    return ViewQuery(
        view=name,
        page=parse_int(params, "page", 1, 1, MAX_PAGE),
        per_page=parse_int(params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
        search=parse_search(params.get("q")),
        sort=sort,
        dir="asc" if direction == "asc" else "desc",
    )


def parse_search(raw: str | None) -> str | None:
    text = text_param(raw, "q")
    if text is not None and len(text) > MAX_SEARCH:
        raise ViewError(f"q must be at most {MAX_SEARCH} characters")
    return text


def like_pattern(search: str) -> str:
    """A LIKE pattern finding `search` anywhere, its own % and _ taken literally."""
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def order_by(columns: Sequence[str], direction: str) -> str:
    """`columns` come from SORTS only; `id` makes the order total."""
    word = "DESC" if direction == "desc" else "ASC"
    return ", ".join(f"{column} {word}" for column in (*columns, "id"))


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- what a row says (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    # in_sync | pending | retrying | error | missing | removed | not_synced | opted_out
    code: str
    label: str
    message: str | None = None


def customer_status(
    *,
    opted_in: bool,
    in_brevo: bool,
    queued: bool,
    queue_error: str | None,
    state: str | None,
    last_error: str | None,
) -> Status:
    """One word for where a customer stands with Brevo, and Brevo's message on an error."""
    if queued:
        if queue_error:
            return Status("retrying", "retrying", queue_error)
        return Status("pending", "pending")
    if state == "error":
        return Status("error", "error", last_error)
    if state == "removed":
        return Status("removed", "removed from Brevo")
    if state == "synced":
        if opted_in and not in_brevo:
            return Status("missing", "missing in Brevo")
        return Status("in_sync", "in sync")
    if opted_in:
        return Status("not_synced", "not synced")
    return Status("opted_out", "opted out")


def differences(
    row: Mapping[str, Any], *, phone_region: str | None = None, list_id: int | None = None
) -> list[str]:
    """The synced fields where the customer and the mirrored contact disagree (the rule of
    brevo_sync.differs), then whether an opted-in customer is blocklisted or out of the list."""
    if row.get("m_id") is None:
        return []
    found = differs.differences(
        email=row.get("email"), first_name=row.get("first_name"),
        last_name=row.get("last_name"), phone=row.get("phone"),
        used_welcome_offer=row.get("used_welcome_offer"), held_email=row.get("m_email"),
        held_first_name=row.get("m_first_name"), held_last_name=row.get("m_last_name"),
        held_sms=row.get("m_sms"), held_used_welcome_offer=row.get("m_used_welcome_offer"),
        region=phone_region, sms_withheld=bool(row.get("sms_withheld")))
    if row.get("marketing_opt_in"):
        if row.get("m_email_blacklisted"):
            found.append("blocklisted")
        # Someone who left the list in Brevo is out of it by their own choice, not drift.
        if list_id is not None and list_id not in (row.get("m_list_ids") or ()) \
                and list_id not in (row.get("m_list_unsubscribed") or ()):
            found.append("list")
    return found


SMS_WITHHELD = "SMS withheld: Brevo holds this number on another contact"


def withheld_fields(row: Mapping[str, Any], *, phone_region: str | None = None) -> dict[str, str]:
    """The synced fields the sync leaves out on purpose, with why: a phone Brevo cannot take
    (not a phone number) or holds on another contact (pushed without it, see migration 006).
    Such a field is shown as withheld, with its reason."""
    if not row.get("marketing_opt_in"):
        return {}
    problem = phone_problem(row.get("phone"), phone_region)
    if problem:
        return {"phone": problem}
    if row.get("sms_withheld"):
        return {"phone": SMS_WITHHELD}
    return {}


def shown_status(status: Status, differs: Sequence[str]) -> Status:
    """A customer the last push left in sync whose contact now differs (per `differences`) is
    not "in sync": the badge and the list of differences must tell one story."""
    if status.code == "in_sync" and differs:
        return Status("differs", "differs from Brevo")
    return status


def customer_row(
    row: Mapping[str, Any], *, phone_region: str | None = None, list_id: int | None = None
) -> dict[str, Any]:
    in_brevo = row["m_id"] is not None
    opted_in = bool(row["marketing_opt_in"])
    differs = differences(row, phone_region=phone_region, list_id=list_id)
    # A withheld field is a difference only where the one rule (brevo_sync.differs) says so:
    # a phone withheld as another contact's never is; one Brevo would refuse is when Brevo
    # holds some other number, which the next push clears.
    withheld = withheld_fields(row, phone_region=phone_region)
    status = shown_status(
        customer_status(
            opted_in=opted_in,
            in_brevo=in_brevo,
            queued=bool(row["queued"]),
            queue_error=row["queue_error"],
            state=row["s_status"],
            last_error=row["last_error"],
        ),
        differs,
    )
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "phone": row["phone"],
        "marketing_opt_in": opted_in,
        "used_welcome_offer": bool(row["used_welcome_offer"]),
        "created_at": iso(row["created_at"]),
        "in_brevo": in_brevo,
        "brevo_id": row["m_id"] if in_brevo else row["brevo_contact_id"],
        "blocklisted": bool(row["m_email_blacklisted"]),
        # A hard bounce a Brevo webhook reported: the address is undeliverable.
        "hard_bounce_at": iso(row.get("hard_bounce_at")),
        "status": status.code,
        "status_label": status.label,
        "error": status.message,
        # What the sync leaves out of a push, and why (a phone Brevo would refuse or holds
        # on another contact).
        "notes": list(withheld.values()),
        # The last successful push; none for a contact Brevo no longer holds.
        "last_synced_at": None if status.code == "missing" else iso(row["last_synced_at"]),
        "can_push": opted_in and status.code != "in_sync",
        "differs": differs,
        "withheld": [{"field": name, "reason": why} for name, why in withheld.items()],
        "brevo": None
        if not in_brevo
        else {
            "email": row["m_email"],
            "first_name": row["m_first_name"],
            "last_name": row["m_last_name"],
            "sms": row["m_sms"],
            "used_welcome_offer": row["m_used_welcome_offer"],
        },
    }


def contact_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "sms": row["sms"],
        "used_welcome_offer": row["used_welcome_offer"],
        "blocklisted": bool(row["email_blacklisted"]),
        "list_ids": list(row["list_ids"] or ()),
        "modified_at": iso(row["modified_at"]),
        "customer_id": str(row["customer_id"]) if row["customer_id"] else None,
        "customer_opt_in": row["customer_opt_in"],
        "brevo_only": row["customer_id"] is None,
    }


# --- reading --------------------------------------------------------------------------------

_WHERE = {
    "neon": "view_where_neon",
    "matched": "view_where_matched",
    "unmatched": "view_where_unmatched",
}


async def count_view(conn: AsyncConnection[Any], view: View) -> int:
    """A view's total without a search (what view_counts gives for all four at once)."""
    if view == "brevo":
        return await scalar(conn, sql.SQL(q("view_contact_count")), {})
    return await scalar(conn, compose("view_customer_count", where=q(_WHERE[view])), {})


async def read_view(
    conn: AsyncConnection[Any],
    query: ViewQuery,
    *,
    total: int | None = None,
    phone_region: str | None = None,
    list_id: int | None = None,
) -> ViewPage:
    """One page of a view. `total` is the view's unsearched total when the caller knows it
    (the counts are the dear part of a view: see api/totals.py)."""
    contacts = query.view == "brevo"
    if contacts:
        keys, details = "view_contact_keys", "view_contact_details"
    else:
        keys = "view_customer_keys_state" if query.sort in STATE_SORTS else "view_customer_keys"
        details = "view_customer_details"
    params: dict[str, Any] = {}
    where = "true" if contacts else q(_WHERE[query.view])
    search = "true"
    if query.search:
        params["like"] = like_pattern(query.search)
        search = q("view_search_contacts" if contacts else "view_search_customers")
    keys_sql = customer_keys(keys, where, search)
    asked = query
    if single_pass(query):
        # The total comes with the page: a page too deep to read is first read as page 1,
        # which says whether the asked page exists at all.
        first = query if query.offset <= MAX_SCAN_OFFSET else replace(query, page=1)
        rows, total = await _single_pass_page(conn, first, keys_sql, details, params)
        query = replace(query, page=min(query.page, last_page(total, query.per_page)))
        if query.page != first.page:
            rows, total = await _single_pass_page(conn, query, keys_sql, details, params)
    else:
        if total is None:
            total = await count_view(conn, query.view)
        query = replace(query, page=min(query.page, last_page(total, query.per_page)))
        rows = await _page(conn, query, total, keys_sql, details)
    clamped_from = asked.page if query.page != asked.page else None
    if contacts:
        return ViewPage(query, total, [contact_row(r) for r in rows], clamped_from)
    return ViewPage(
        query,
        total,
        [customer_row(r, phone_region=phone_region, list_id=list_id) for r in rows],
        clamped_from,
    )


def last_page(total: int, per_page: int) -> int:
    """The last page of `total` rows (page 1 when there are none)."""
    return max(1, math.ceil(total / per_page))


def single_pass(query: ViewQuery) -> bool:
    """Count and page in one statement: for a search, whose hits a scan finds anyway, and for
    Unmatched, which is a join computed whole either way (the planner cannot guess how few
    customers Brevo lacks, so no index order helps it)."""
    return bool(query.search) or query.view == "unmatched"


async def _page(
    conn: AsyncConnection[Any], query: ViewQuery, total: int, keys: sql.Composed, details: str
) -> list[dict[str, Any]]:
    window = page_window(total, query)
    if window is None:
        return []
    offset, limit, backwards = window
    check_depth(query, offset)
    direction = query.dir if not backwards else ("asc" if query.dir == "desc" else "desc")
    order = sql.SQL(order_by(SORTS[query.view][query.sort], direction))
    if query.view != "brevo" and query.sort in SORT_GROUPS:
        rows = await _walked_page(conn, query, direction, offset, limit, order)
    else:
        rows = None
    if rows is None:
        statement = sql.SQL(q("view_page")).format(
            keys=keys, details=sql.SQL(q(details)), order=order
        )
        cursor = await conn.execute(statement, {"offset": offset, "limit": limit})
        rows = await cursor.fetchall()
    if backwards:
        rows.reverse()
    return rows


async def _walked_page(
    conn: AsyncConnection[Any],
    query: ViewQuery,
    direction: str,
    offset: int,
    limit: int,
    order: sql.SQL,
) -> list[dict[str, Any]] | None:
    """A page of a grouped order, its rows found by walking the groups (None: sort it whole).
    The walks and the page are read from one snapshot, so a customer whose status changes
    meanwhile is still read in one group only."""
    async with _snapshot(conn):
        ids = await _walk_groups(conn, query, direction, offset + limit)
        if ids is None:
            return None
        statement = sql.SQL(q("view_page")).format(
            keys=customer_keys("view_customer_keys_state", q(_WHERE[query.view]),
                               q("view_customers_by_id")),
            details=sql.SQL(q("view_customer_details")),
            order=order,
        )
        cursor = await conn.execute(statement, {"ids": ids[offset:], "offset": 0, "limit": limit})
        return await cursor.fetchall()


@asynccontextmanager
async def _snapshot(conn: AsyncConnection[Any]) -> AsyncIterator[None]:
    """A read-only transaction seeing one snapshot, unless the caller's is already open."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        yield
        return
    async with conn.transaction():
        await conn.execute(q("view_snapshot"))
        yield


async def _walk_groups(
    conn: AsyncConnection[Any], query: ViewQuery, direction: str, wanted: int
) -> list[UUID] | None:
    """The ids of the first `wanted` rows of a grouped order (SORT_GROUPS): each group's rows
    in index order, group after group, until there are enough. Groups are walked apart, not
    as one UNION, so a group not needed is never read. None when the walks would read more
    than WALK_BUDGET index rows (a deep page, or groups too sparse to find quickly): the page
    is then sorted whole, as before the walks."""
    word = sql.SQL("DESC" if direction == "desc" else "ASC")
    groups = SORT_GROUPS[query.sort]
    budget = WALK_BUDGET
    if wanted > budget:
        return None
    ids: list[UUID] = []
    for group in reversed(groups) if direction == "desc" else groups:
        if len(ids) >= wanted:
            break
        if query.view not in group.views:
            continue
        driver = sql.SQL(q(group.driver)).format(dir=word)
        walk = sql.SQL(q("view_walk")).format(
            walk=driver, where=sql.SQL(q(_WHERE[query.view])), group=sort_keys(group.test),
            dir=word,
        )
        params: dict[str, Any] = {
            "value": group.value, "state": group.state, "budget": budget,
            "limit": wanted - len(ids),
        }
        found = [row["id"] for row in await (await conn.execute(walk, params)).fetchall()]
        ids += found
        if len(ids) >= wanted:
            break
        # Short of rows: the group is all read, unless the budget ran out first.
        count = sql.SQL(q("view_walk_count")).format(walk=driver)
        row = await (await conn.execute(count, params)).fetchone()
        walked = int(row["walked"]) if row else 0
        if walked >= budget:
            return None
        budget -= walked
    return ids


def customer_keys(name: str, where: str, search: str) -> sql.Composed:
    """A keys block (view_customer_keys*, view_contact_keys) with its fragments filled."""
    return sql.SQL(q(name)).format(
        where=sql.SQL(where), search=sql.SQL(search),
        status=sort_keys("view_sort_status"), last_synced=sort_keys("view_sort_last_synced"),
    )


def sort_keys(name: str) -> sql.Composed:
    """A block that may use the state sorts' keys (view_sort_status, view_sort_last_synced),
    with them filled in: one definition for ordering a page and for walking its groups."""
    return sql.SQL(q(name)).format(
        status=sql.SQL(q("view_sort_status")), last_synced=sql.SQL(q("view_sort_last_synced"))
    )


async def _single_pass_page(
    conn: AsyncConnection[Any],
    query: ViewQuery,
    keys: sql.Composed,
    details: str,
    params: dict[str, Any],
) -> tuple[list[dict[str, Any]], int]:
    """Hits are read front to back only, so such a page is at most MAX_SCAN_OFFSET deep."""
    check_depth(query, query.offset)
    statement = sql.SQL(q("view_search")).format(
        keys=keys,
        details=sql.SQL(q(details)),
        order=sql.SQL(order_by(SORTS[query.view][query.sort], query.dir)),
    )
    cursor = await conn.execute(
        statement, {**params, "offset": query.offset, "limit": query.per_page}
    )
    rows = await cursor.fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return [r for r in rows if r["id"] is not None], total


def page_window(total: int, query: ViewQuery) -> tuple[int, int, bool] | None:
    """(offset, limit, backwards) for the page, or None past the end.

    A page in the second half is read from the other end in the opposite order, so no page
    ever skips more than half the rows: the last page costs what the first one does.
    """
    offset, limit = query.offset, query.per_page
    if offset >= total:
        return None
    end = min(offset + limit, total)
    if end <= total - offset:  # rows read from the front <= rows read from the back
        return offset, limit, False
    return total - end, end - offset, True


def check_depth(query: ViewQuery, offset: int) -> None:
    """Skipping rows costs a sort of all of them unless an index gives the order: such pages
    are served up to MAX_SCAN_OFFSET rows from either end (searches from the front)."""
    indexed = query.sort in INDEXED_SORTS[query.view] and not single_pass(query)
    if offset > MAX_SCAN_OFFSET and not indexed:
        if query.search:
            how = "narrow the search"
        elif single_pass(query):
            how = "search"
        else:
            how = "sort by email or search"
        raise ViewError(
            f"this page is more than {MAX_SCAN_OFFSET:,} rows deep: {how} to reach these rows"
        )


async def read_one_customer(
    conn: AsyncConnection[Any],
    customer_id: UUID,
    *,
    phone_region: str | None = None,
    list_id: int | None = None,
) -> dict[str, Any] | None:
    """One customer as the customer views show it (for updating a row in place)."""
    statement = sql.SQL(q("view_page")).format(
        keys=compose("view_customer_keys", where=q("view_where_one"), search="true"),
        details=sql.SQL(q("view_customer_details")),
        order=sql.SQL(order_by((), "asc")),
    )
    cursor = await conn.execute(statement, {"id": customer_id, "offset": 0, "limit": 1})
    row = await cursor.fetchone()
    return customer_row(row, phone_region=phone_region, list_id=list_id) if row else None


async def view_counts(conn: AsyncConnection[Any]) -> dict[str, int]:
    row = await (await conn.execute(q("view_counts"))).fetchone()
    assert row is not None
    return {view: int(row[view]) for view in VIEWS}


async def mirror_read_at(conn: AsyncConnection[Any]) -> tuple[datetime | None, datetime]:
    """When the mirror was last read from Brevo (None: never), and the database's now."""
    row = await (await conn.execute(q("mirror_read_at"))).fetchone()
    assert row is not None
    return row["read_at"], row["db_now"]


async def sync_figures(conn: AsyncConnection[Any]) -> dict[str, int]:
    """The Unmatched tab's status card: total = synced + pending + failed, over the opted-in
    customers; `missing` of them are not in the mirror of Brevo."""
    row = await (await conn.execute(q("sync_summary"))).fetchone()
    assert row is not None
    total, synced, failed = int(row["total"]), int(row["synced"]), int(row["failed"])
    return {
        "total": total,
        "synced": synced,
        "pending": total - synced - failed,
        "failed": failed,
        "missing": int(row["missing"]),
    }


async def running_sweep(conn: AsyncConnection[Any]) -> dict[str, Any] | None:
    """The sweep running now, with the counts it has recorded so far."""
    row = await (
        await conn.execute(q("running_sweep"), {"max_age": RUNNING_MAX_AGE_SECONDS})
    ).fetchone()
    if row is None:
        return None
    return {
        "run_id": row["run_id"],
        "kind": row["kind"],
        "source": row["source"],
        "started_at": iso(row["started_at"]),
        "counts": dict(row["counts"] or {}),
    }


async def customer_exists(conn: AsyncConnection[Any], customer_id: UUID) -> bool:
    row = await (await conn.execute(q("customer_exists"), {"id": customer_id})).fetchone()
    return bool(row and row["found"])
