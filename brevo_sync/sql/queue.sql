-- name: claim
-- Lease ready rows for a push. A short transaction: no lock the trigger needs outlives it.
-- Shaped so that no statistics can make it slow: the oldest ready rows are read in the order
-- of an index and locked until the limit is met (never a sort of the whole backlog), once
-- (a materialized CTE: a join could run the LIMIT again, lease more rows than asked, and cost
-- the square of the backlog when the planner believes the queue empty), then updated by key.
WITH ready AS MATERIALIZED (
    SELECT customer_id FROM brevo_sync.queue
    WHERE next_attempt_at <= now()
      AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY first_queued_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE brevo_sync.queue AS q
SET claimed_until = now() + make_interval(secs => %(lease)s),
    claimed_by = %(worker)s,
    attempts = q.attempts + 1
WHERE q.customer_id = ANY (ARRAY(SELECT customer_id FROM ready))
RETURNING q.customer_id, q.version, q.deleted, q.deleted_email, q.deleted_contact_id, q.attempts;

-- name: claim_one
-- An admin's push: lease this customer's row even when it is not yet due. Shaped as `claim`:
-- joined to its subquery, it read the whole queue when the statistics called it empty.
WITH ready AS MATERIALIZED (
    SELECT customer_id FROM brevo_sync.queue
    WHERE customer_id = %(customer_id)s
      AND (claimed_until IS NULL OR claimed_until < now())
    FOR UPDATE SKIP LOCKED
)
UPDATE brevo_sync.queue AS q
SET claimed_until = now() + make_interval(secs => %(lease)s),
    claimed_by = %(worker)s,
    attempts = q.attempts + 1
WHERE q.customer_id = ANY (ARRAY(SELECT customer_id FROM ready))
RETURNING q.customer_id, q.version, q.deleted, q.deleted_email, q.deleted_contact_id, q.attempts;

-- name: enqueue
-- Queue existing customers by hand (an admin's push); a row already pending is kept as is.
INSERT INTO brevo_sync.queue (customer_id, reason)
SELECT c.id, %(reason)s FROM public.customers c WHERE c.id = ANY(%(ids)s::uuid[])
ON CONFLICT (customer_id) DO NOTHING;

-- name: release_done
-- Done: drop the row unless it changed during the push, in which case it stays pending.
WITH done AS (
    DELETE FROM brevo_sync.queue
    WHERE customer_id = %(customer_id)s AND version = %(version)s
    RETURNING 1
)
UPDATE brevo_sync.queue
SET claimed_until = NULL, claimed_by = NULL
WHERE customer_id = %(customer_id)s AND NOT EXISTS (SELECT FROM done);

-- name: release_retry
-- A transient failure: try again later, unless the row changed meanwhile (then at once).
UPDATE brevo_sync.queue
SET claimed_until = NULL, claimed_by = NULL, last_error = %(error)s,
    next_attempt_at = CASE WHEN version = %(version)s
                           THEN now() + make_interval(secs => %(delay)s) ELSE now() END
WHERE customer_id = %(customer_id)s;

-- name: release_unclaimed
-- Give back a lease that was never pushed (a stop, a budget running out).
UPDATE brevo_sync.queue
SET claimed_until = NULL, claimed_by = NULL, attempts = greatest(attempts - 1, 0)
WHERE customer_id = %(customer_id)s AND claimed_by = %(worker)s;

-- name: release_unclaimed_batch
-- `release_unclaimed` for many rows at once, skipping rows the application holds right now.
-- Updated by key, not joined to the CTE: a join may scan the CTE once a row (see claim).
WITH free AS MATERIALIZED (
    SELECT q.customer_id FROM brevo_sync.queue q
    WHERE q.customer_id = ANY(%(customer_ids)s::uuid[])
    ORDER BY q.customer_id
    FOR UPDATE SKIP LOCKED
)
UPDATE brevo_sync.queue q
SET claimed_until = NULL, claimed_by = NULL, attempts = greatest(q.attempts - 1, 0)
WHERE q.customer_id = ANY (ARRAY(SELECT customer_id FROM free))
  AND q.claimed_by = %(worker)s
RETURNING q.customer_id;

-- name: arm
-- The listener found nothing to do: ask the trigger for a NOTIFY on the next change.
UPDATE brevo_sync.wakeup SET armed = true WHERE NOT armed;

-- name: depth
SELECT count(*) AS pending,
       count(*) FILTER (WHERE next_attempt_at <= now()
                        AND (claimed_until IS NULL OR claimed_until < now())) AS ready,
       extract(epoch FROM now() - min(first_queued_at))::float8 AS oldest_age_seconds
FROM brevo_sync.queue;

-- name: release_done_batch
-- `release_done` for many rows at once, skipping rows the application holds right now.
WITH batch AS (
    SELECT * FROM unnest(%(customer_ids)s::uuid[], %(versions)s::bigint[])
        AS t(customer_id, version)
),
free AS (
    SELECT q.customer_id, q.version FROM brevo_sync.queue q
    WHERE q.customer_id = ANY(%(customer_ids)s::uuid[])
    ORDER BY q.customer_id
    FOR UPDATE SKIP LOCKED
),
done AS (
    DELETE FROM brevo_sync.queue q
    USING batch b, free f
    WHERE q.customer_id = b.customer_id AND f.customer_id = q.customer_id
      AND f.version = b.version
    RETURNING q.customer_id
),
kept AS (
    UPDATE brevo_sync.queue q SET claimed_until = NULL, claimed_by = NULL
    FROM batch b, free f
    WHERE q.customer_id = b.customer_id AND f.customer_id = q.customer_id
      AND f.version <> b.version
    RETURNING q.customer_id
)
SELECT customer_id FROM done UNION ALL SELECT customer_id FROM kept;

-- name: release_retry_batch
-- `release_retry` for many rows at once, skipping rows the application holds right now.
WITH batch AS (
    SELECT * FROM unnest(%(customer_ids)s::uuid[], %(versions)s::bigint[],
                         %(delays)s::float8[], %(errors)s::text[])
        AS t(customer_id, version, delay, error)
),
free AS (
    SELECT q.customer_id FROM brevo_sync.queue q
    WHERE q.customer_id = ANY(%(customer_ids)s::uuid[])
    ORDER BY q.customer_id
    FOR UPDATE SKIP LOCKED
)
UPDATE brevo_sync.queue q
SET claimed_until = NULL, claimed_by = NULL, last_error = b.error,
    next_attempt_at = CASE WHEN q.version = b.version
                           THEN now() + make_interval(secs => b.delay) ELSE now() END
FROM batch b, free f
WHERE q.customer_id = b.customer_id AND f.customer_id = q.customer_id
RETURNING q.customer_id;

-- name: drift_enqueue
-- One batch of drift into the queue; a row already pending is kept as it is. A deleted
-- customer's row carries what the removal needs, as the trigger's would.
INSERT INTO brevo_sync.queue AS q
    (customer_id, reason, deleted, deleted_email, deleted_contact_id)
SELECT t.id, %(reason)s, c.id IS NULL,
       CASE WHEN c.id IS NULL THEN s.email END,
       CASE WHEN c.id IS NULL THEN s.brevo_contact_id END
FROM unnest(%(ids)s::uuid[]) AS t(id)
LEFT JOIN public.customers c ON c.id = t.id
LEFT JOIN brevo_sync.sync_state s ON s.customer_id = t.id
ORDER BY t.id
ON CONFLICT (customer_id) DO NOTHING;

-- name: short_lock_wait
-- A batch that would wait on an application's transaction gives up quickly instead, so it
-- can never hold the application up for long nor deadlock with it.
SET LOCAL lock_timeout = '200ms';

-- name: leases_held
-- Leases a listener still holds after its drain failed midway or its stop deadline cut pushes
-- off. Nothing of that worker is in flight any more.
SELECT customer_id FROM brevo_sync.queue
WHERE claimed_by = %(worker)s AND claimed_until > now();

-- name: end_lease
-- End one lease now instead of at expiry; one row a statement, so that it never holds a lock
-- an application transaction waits for. claimed_by stays, as a trace that a push may have
-- reached Brevo unrecorded.
UPDATE brevo_sync.queue
SET claimed_until = now()
WHERE customer_id = %(customer_id)s AND claimed_by = %(worker)s AND claimed_until > now();

-- name: end_lease_batch
-- `end_lease` for many rows at once, skipping rows the application holds right now.
WITH free AS MATERIALIZED (
    SELECT q.customer_id FROM brevo_sync.queue q
    WHERE q.customer_id = ANY(%(customer_ids)s::uuid[])
    ORDER BY q.customer_id
    FOR UPDATE SKIP LOCKED
)
UPDATE brevo_sync.queue q
SET claimed_until = now()
WHERE q.customer_id = ANY (ARRAY(SELECT customer_id FROM free))
  AND q.claimed_by = %(worker)s AND q.claimed_until > now()
RETURNING q.customer_id;
