-- The admin page's views. `{where}`, `{search}` and `{order}` are filled from the fixed
-- fragments below and the whitelisted sorts in brevo_sync/views.py, never from user text;
-- user text only ever arrives as a bound parameter.

-- name: view_where_neon
true

-- name: view_where_matched
EXISTS (SELECT FROM brevo_sync.contacts m WHERE m.email_lower = lower(c.email))

-- name: view_where_unmatched
c.marketing_opt_in
AND NOT EXISTS (SELECT FROM brevo_sync.contacts m WHERE m.email_lower = lower(c.email))

-- name: view_where_one
c.id = %(id)s

-- name: view_search_customers
-- One lower() and one LIKE per row over the three fields joined: a third of the cost of
-- matching each field on its own, and "first last" still finds the full name.
lower(concat_ws(' ', c.email, c.first_name, c.last_name)) LIKE %(like)s

-- name: view_search_contacts
lower(concat_ws(' ', m.email_lower, m.first_name, m.last_name)) LIKE %(like)s

-- name: view_customer_count
SELECT count(*) AS total FROM public.customers c WHERE {where};

-- name: view_customer_keys
-- The page's customers picked on the customers table alone, so that an index can drive the
-- order; only then are the few rows joined to the rest (view_customer_details). The columns
-- the state sorts need are null here: view_customer_keys_state gives them.
SELECT c.id, lower(c.email) AS sort_email, lower(c.last_name) AS sort_last,
       lower(c.first_name) AS sort_first, c.created_at, c.marketing_opt_in AS sort_opt_in,
       NULL::int AS sort_status, NULL::boolean AS sort_in_brevo,
       NULL::timestamptz AS sort_last_synced
FROM public.customers c
WHERE {where} AND {search}

-- name: view_customer_keys_state
-- The same keys with the sync's state joined, for sorting by status, by whether Brevo holds
-- the customer, or by the last successful push. Their orders span tables, so a page of them
-- is found group by group in index order (view_walk, brevo_sync.views.SORT_GROUPS); these
-- keys order the rows found, and serve searches, Unmatched, and pages too deep or sparse to
-- walk (read at most MAX_SCAN_OFFSET rows from either end).
SELECT c.id, lower(c.email) AS sort_email, lower(c.last_name) AS sort_last,
       lower(c.first_name) AS sort_first, c.created_at, c.marketing_opt_in AS sort_opt_in,
       ({status}) AS sort_status,
       m.id IS NOT NULL AS sort_in_brevo,
       ({last_synced}) AS sort_last_synced
FROM public.customers c
LEFT JOIN brevo_sync.contacts m ON m.email_lower = lower(c.email)
LEFT JOIN brevo_sync.sync_state s ON s.customer_id = c.id
LEFT JOIN brevo_sync.queue qu ON qu.customer_id = c.id
WHERE {where} AND {search}

-- name: view_sort_status
-- A customer's rank in the status sort (c, m, s, qu joined as in view_customer_keys_state),
-- as brevo_sync.views.customer_status words them, most urgent first: error, retrying,
-- pending, missing in Brevo, not synced, in sync, removed, opted out.
CASE
    WHEN qu.customer_id IS NOT NULL AND qu.last_error IS NOT NULL THEN 1
    WHEN qu.customer_id IS NOT NULL THEN 2
    WHEN s.status = 'error' THEN 0
    WHEN s.status = 'removed' THEN 6
    WHEN s.status = 'synced' AND c.marketing_opt_in AND m.id IS NULL THEN 3
    WHEN s.status = 'synced' THEN 5
    WHEN c.marketing_opt_in THEN 4
    ELSE 7
END

-- name: view_sort_last_synced
-- The last successful push, none for a contact Brevo no longer holds.
CASE WHEN s.status = 'synced' AND c.marketing_opt_in AND m.id IS NULL THEN NULL
     ELSE s.last_synced_at END

-- name: view_group_status
({status}) = %(value)s

-- name: view_group_in_brevo
(m.id IS NOT NULL) = %(value)s

-- name: view_group_opt_in
c.marketing_opt_in = %(value)s

-- name: view_group_pushed
({last_synced}) IS NOT NULL

-- name: view_group_never_pushed
({last_synced}) IS NULL

-- name: view_walk
-- The rows of one group of a sort (one status, those Brevo holds, ...) in id order or push
-- order: the first rows of an index holding every row of the group (a view_driver_* block,
-- as many as the budget allows; see 014) are read in order, each joined to what the group's
-- test needs, and the walk stops once it has the rows the page needs. The joins are LATERAL
-- and kept apart (OFFSET 0) so the planner cannot trade the walk for hash joins of every
-- row: it cannot tell how many rows a group's test keeps.
SELECT c.id
FROM ({walk}) w
JOIN LATERAL (
    SELECT c.id, c.email, c.marketing_opt_in FROM public.customers c
    WHERE c.id = w.customer_id OFFSET 0
) c ON true
LEFT JOIN LATERAL (
    SELECT m.id FROM brevo_sync.contacts m WHERE m.email_lower = lower(c.email) OFFSET 0
) m ON true
LEFT JOIN LATERAL (
    SELECT s.status, s.last_synced_at FROM brevo_sync.sync_state s
    WHERE s.customer_id = c.id OFFSET 0
) s ON true
LEFT JOIN LATERAL (
    SELECT qu.customer_id, qu.last_error FROM brevo_sync.queue qu
    WHERE qu.customer_id = c.id OFFSET 0
) qu ON true
WHERE {where} AND {group}
ORDER BY w.key {dir}, w.customer_id {dir}
LIMIT %(limit)s

-- name: view_walk_count
-- How many rows a walk could read, up to its budget: fewer means the walk saw its whole group.
SELECT count(*) AS walked FROM ({walk}) w

-- name: view_driver_state
-- The customers with a sync state of one kind, along sync_state_status_customer_idx.
SELECT s.customer_id, 0 AS key FROM brevo_sync.sync_state s
WHERE s.status = %(state)s
ORDER BY s.customer_id {dir}
LIMIT %(budget)s

-- name: view_driver_queue
-- The queued customers, along the queue's primary key.
SELECT qu.customer_id, 0 AS key FROM brevo_sync.queue qu
ORDER BY qu.customer_id {dir}
LIMIT %(budget)s

-- name: view_driver_customers
-- Every customer, along the customers' primary key.
SELECT c.id AS customer_id, 0 AS key FROM public.customers c
ORDER BY c.id {dir}
LIMIT %(budget)s

-- name: view_driver_pushes
-- The customers pushed at least once, by the last push then id, along sync_state_pushed_idx.
SELECT s.customer_id, s.last_synced_at AS key FROM brevo_sync.sync_state s
WHERE s.last_synced_at IS NOT NULL
ORDER BY s.last_synced_at {dir}, s.customer_id {dir}
LIMIT %(budget)s

-- name: view_snapshot
-- A grouped page's walks and rows, read as of one moment (brevo_sync.views._snapshot).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: view_customers_by_id
-- The customers of a page picked group by group, with their keys.
c.id = ANY(%(ids)s::uuid[])

-- name: view_customer_details
SELECT p.sort_email, p.sort_last, p.sort_first, p.sort_opt_in, p.sort_status,
       p.sort_in_brevo, p.sort_last_synced,
       c.id, c.email, c.first_name, c.last_name, c.phone, c.marketing_opt_in,
       c.used_welcome_offer, c.brevo_contact_id, c.created_at,
       m.id AS m_id, m.email AS m_email, m.first_name AS m_first_name,
       m.last_name AS m_last_name, m.sms AS m_sms,
       m.used_welcome_offer AS m_used_welcome_offer,
       m.email_blacklisted AS m_email_blacklisted, m.list_ids AS m_list_ids,
       m.list_unsubscribed AS m_list_unsubscribed,
       s.status AS s_status, s.last_synced_at, s.last_attempt_at, s.last_error,
       s.last_error_code,
       -- A phone the sync withheld is no difference until the row changes (differs.py).
       s.sms_withheld_fingerprint IS NOT NULL
         AND s.sms_withheld_fingerprint = brevo_sync.fingerprint(
                 c.email, c.first_name, c.last_name, c.phone, c.marketing_opt_in,
                 c.used_welcome_offer) AS sms_withheld,
       qu.customer_id IS NOT NULL AS queued, qu.last_error AS queue_error,
       w.hard_bounce_at
FROM page p
JOIN public.customers c ON c.id = p.id
LEFT JOIN brevo_sync.contacts m ON m.email_lower = p.sort_email
LEFT JOIN brevo_sync.sync_state s ON s.customer_id = p.id
LEFT JOIN brevo_sync.queue qu ON qu.customer_id = p.id
LEFT JOIN brevo_sync.webhook_contacts w ON w.email_lower = p.sort_email

-- name: view_contact_count
SELECT count(*) AS total FROM brevo_sync.contacts m;

-- name: view_contact_keys
SELECT m.id, m.email_lower AS sort_email, lower(m.last_name) AS sort_last,
       lower(m.first_name) AS sort_first, m.modified_at
FROM brevo_sync.contacts m
WHERE {search}

-- name: view_contact_details
SELECT p.sort_email, p.sort_last, p.sort_first,
       m.id, m.email, m.first_name, m.last_name, m.sms, m.used_welcome_offer,
       m.email_blacklisted, m.list_ids, m.created_at, m.modified_at,
       c.id AS customer_id, c.marketing_opt_in AS customer_opt_in
FROM page p
JOIN brevo_sync.contacts m ON m.id = p.id
LEFT JOIN LATERAL (
    -- Emails equal but for case: the earliest customer is the one the contact belongs to.
    SELECT c.id, c.marketing_opt_in FROM public.customers c
    WHERE lower(c.email) = p.sort_email
    ORDER BY c.created_at, c.id
    LIMIT 1
) c ON true

-- name: view_page
-- A page of a view whose total is known: keys in order, then the details of those rows.
WITH page AS (
    {keys}
    ORDER BY {order}
    LIMIT %(limit)s OFFSET %(offset)s
)
{details}
ORDER BY {order};

-- name: view_search
-- A search (or the Unmatched view, whose rows come from a join that must be computed whole
-- anyway) reads the table once: the hits are kept, counted, and a page taken from them.
-- A row of nulls beside the total stands for an empty page.
WITH hits AS MATERIALIZED (
    {keys}
), page AS (
    SELECT * FROM hits
    ORDER BY {order}
    LIMIT %(limit)s OFFSET %(offset)s
), found AS (
    {details}
)
SELECT t.total, f.*
FROM (SELECT count(*) AS total FROM hits) AS t
LEFT JOIN found f ON true
ORDER BY {order};

-- name: view_counts
-- The four tabs' totals in one pass over the customers.
SELECT count(*) AS neon,
       (SELECT count(*) FROM brevo_sync.contacts) AS brevo,
       count(*) FILTER (WHERE m.id IS NOT NULL) AS matched,
       count(*) FILTER (WHERE m.id IS NULL AND c.marketing_opt_in) AS unmatched
FROM public.customers c
LEFT JOIN brevo_sync.contacts m ON m.email_lower = lower(c.email);

-- name: sync_summary
-- The opted-in customers split three ways: in sync (and present in the mirror), failed for
-- good, and everything else (queued, retrying, never pushed, or missing from Brevo).
SELECT count(*) AS total,
       count(*) FILTER (WHERE qu.customer_id IS NULL AND s.status = 'synced'
                        AND m.id IS NOT NULL) AS synced,
       count(*) FILTER (WHERE qu.customer_id IS NULL AND s.status = 'error') AS failed,
       count(*) FILTER (WHERE m.id IS NULL) AS missing
FROM public.customers c
LEFT JOIN brevo_sync.contacts m ON m.email_lower = lower(c.email)
LEFT JOIN brevo_sync.sync_state s ON s.customer_id = c.id
LEFT JOIN brevo_sync.queue qu ON qu.customer_id = c.id
WHERE c.marketing_opt_in;

-- name: running_sweep
-- A sweep still running, for the page's live progress. A process killed mid-run leaves its
-- row 'running' forever, so rows older than a generous budget are not believed.
SELECT id AS run_id, kind, source, started_at, counts
FROM brevo_sync.runs
WHERE status = 'running' AND finished_at IS NULL
  AND kind = 'reconcile'
  AND started_at > now() - make_interval(secs => %(max_age)s)
ORDER BY started_at DESC
LIMIT 1;

-- name: customer_exists
SELECT EXISTS (SELECT FROM public.customers WHERE id = %(id)s) AS found;

-- name: mirror_read_at
-- When the mirror was last read from Brevo (a listing's start), by the database's clock.
SELECT watermark AS read_at, now() AS db_now FROM brevo_sync.mirror_state;
