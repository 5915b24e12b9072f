-- name: import_open
-- Before the POST: the import, held by its poster for as long as posting may take.
INSERT INTO brevo_sync.imports (rows, since, claimed_by, claimed_until)
VALUES (%(rows)s, %(since)s, %(worker)s, now() + make_interval(secs => %(lease)s))
RETURNING id;

-- name: import_carry_batch
-- Move leased rows into the import: their lease lasts until the import is settled (a century
-- stands for "until further notice": 'infinity' is no date a client can read). Rows the
-- application holds right now are skipped (and tried one by one), never waited on.
WITH free AS (
    SELECT q.customer_id FROM brevo_sync.queue q
    WHERE q.customer_id = ANY(%(customer_ids)s::uuid[])
    ORDER BY q.customer_id
    FOR UPDATE SKIP LOCKED
),
carried AS (
    UPDATE brevo_sync.queue q
    SET import_id = (%(import_ids)s::bigint[])[1], claimed_until = now() + interval '100 years',
        claimed_by = 'import:' || (%(import_ids)s::bigint[])[1]
    FROM free f
    WHERE q.customer_id = f.customer_id AND q.claimed_by = (%(workers)s::text[])[1]
    RETURNING q.customer_id
)
SELECT f.customer_id, c.customer_id IS NOT NULL AS carried
FROM free f LEFT JOIN carried c USING (customer_id);

-- name: import_carry
UPDATE brevo_sync.queue
SET import_id = %(import_id)s, claimed_until = now() + interval '100 years',
    claimed_by = 'import:' || %(import_id)s
WHERE customer_id = %(customer_id)s AND claimed_by = %(worker)s
RETURNING customer_id;

-- name: import_rows_add
INSERT INTO brevo_sync.import_rows
    (import_id, customer_id, version, email, action, note, sms_withheld)
SELECT %(import_id)s, t.customer_id, t.version, t.email, t.action, t.note, t.sms_withheld
FROM unnest(%(customer_ids)s::uuid[], %(versions)s::bigint[], %(emails)s::text[],
            %(actions)s::text[], %(notes)s::text[], %(sms_withheld)s::boolean[])
     AS t(customer_id, version, email, action, note, sms_withheld);

-- name: import_posted
-- Brevo answered: the process id, before anything else.
UPDATE brevo_sync.imports
SET process_id = %(process_id)s, status = 'waiting', posted_at = now(),
    next_check_at = now() + make_interval(secs => %(check_after)s),
    claimed_by = NULL, claimed_until = NULL
WHERE id = %(id)s;

-- name: import_unknown
-- The POST got no answer: Brevo may have taken the import all the same.
UPDATE brevo_sync.imports
SET status = 'unknown', posted_at = now(), error = %(error)s,
    next_check_at = now() + make_interval(secs => %(check_after)s),
    claimed_by = NULL, claimed_until = NULL
WHERE id = %(id)s;

-- name: import_claim_due
-- An open import whose next look is due and that nobody is looking at.
UPDATE brevo_sync.imports i
SET claimed_by = %(worker)s, claimed_until = now() + make_interval(secs => %(lease)s)
FROM (
    SELECT id FROM brevo_sync.imports
    WHERE finished_at IS NULL AND next_check_at <= now()
      AND (claimed_until IS NULL OR claimed_until < now())
      AND NOT (id = ANY(%(looked)s::bigint[]))
    ORDER BY next_check_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) AS due
WHERE i.id = due.id
RETURNING i.id, i.process_id, i.status, i.process_status, i.since, i.checks, i.polls,
          extract(epoch FROM now() - coalesce(i.posted_at, i.created_at))::float8 AS age;

-- name: import_rows_of
SELECT customer_id, version, email, action, note, sms_withheld FROM brevo_sync.import_rows
WHERE import_id = %(import_id)s;

-- name: import_checked
-- Not settled yet: look again later.
UPDATE brevo_sync.imports
SET process_status = coalesce(%(process_status)s, process_status), checks = checks + 1,
    polls = polls + %(polled)s,
    next_check_at = now() + make_interval(secs => %(check_after)s),
    claimed_by = NULL, claimed_until = NULL
WHERE id = %(id)s;

-- name: import_finish
UPDATE brevo_sync.imports
SET status = %(status)s, process_status = coalesce(%(process_status)s, process_status),
    error = coalesce(%(error)s, error), finished_at = now(), checks = checks + %(checked)s,
    polls = polls + %(polled)s, claimed_by = NULL, claimed_until = NULL
WHERE id = %(id)s;

-- name: import_drop_rows
DELETE FROM brevo_sync.import_rows WHERE import_id = %(import_id)s;

-- name: import_release_batch
-- Rows an import did not carry into Brevo go back to the queue. With one_by_one, import_id
-- stays, so they are pushed one by one, each getting Brevo's own answer; otherwise they may
-- go in a later import, after `delay` seconds.
WITH free AS (
    SELECT q.customer_id FROM brevo_sync.queue q
    WHERE q.customer_id = ANY(%(customer_ids)s::uuid[])
    ORDER BY q.customer_id
    FOR UPDATE SKIP LOCKED
)
UPDATE brevo_sync.queue q
SET claimed_until = NULL, claimed_by = NULL,
    import_id = CASE WHEN %(one_by_one)s THEN q.import_id END,
    next_attempt_at = now() + make_interval(secs => %(delay)s)
FROM free f
WHERE q.customer_id = f.customer_id AND q.claimed_by = 'import:' || %(import_id)s
RETURNING q.customer_id;

-- name: import_held_rows
-- Every queue row the import holds, listed in import_rows or not (a poster killed between
-- taking the rows and writing them down leaves some that are not).
SELECT customer_id FROM brevo_sync.queue WHERE claimed_by = 'import:' || %(import_id)s;

-- name: import_release
UPDATE brevo_sync.queue
SET claimed_until = NULL, claimed_by = NULL,
    import_id = CASE WHEN %(one_by_one)s THEN import_id END,
    next_attempt_at = now() + make_interval(secs => %(delay)s)
WHERE customer_id = %(customer_id)s AND claimed_by = 'import:' || %(import_id)s;

-- name: process_poll_turn
-- This process may call /processes now if nobody in the deployment did for `spacing` s.
UPDATE brevo_sync.process_polls
SET last_polled_at = now(), polls = polls + 1
WHERE last_polled_at IS NULL OR last_polled_at <= now() - make_interval(secs => %(spacing)s)
RETURNING polls;

-- name: imports_refused_lately
-- Brevo refused an import itself (400) within the hour: the account needs a look, and
-- imports wait until then instead of being refused batch after batch.
SELECT EXISTS (
    SELECT FROM brevo_sync.imports
    WHERE status = 'refused' AND finished_at > now() - make_interval(secs => %(seconds)s)
) AS refused;

-- name: imports_next_check
-- Seconds until an open import is next due to be looked at (NULL when none is open).
SELECT extract(epoch FROM min(greatest(next_check_at, coalesce(claimed_until, next_check_at)))
               - now())::float8 AS wait
FROM brevo_sync.imports WHERE finished_at IS NULL;

-- name: import_returned
-- Of these queue rows, those that came back from an import: they go one by one.
SELECT customer_id FROM brevo_sync.queue
WHERE customer_id = ANY(%(customer_ids)s::uuid[]) AND import_id IS NOT NULL;

-- name: import_discovering
-- Brevo's process list is asked once an import (it is in the "other" budget too).
UPDATE brevo_sync.imports SET polls = polls + 1 WHERE id = %(id)s;

-- name: import_known_processes
SELECT process_id FROM brevo_sync.imports
WHERE process_id IS NOT NULL AND created_at >= %(since)s - interval '1 hour';

-- name: import_adopted
-- The unanswered POST was taken after all: this is its process.
UPDATE brevo_sync.imports
SET process_id = %(process_id)s, status = 'waiting', error = NULL
WHERE id = %(id)s;

-- name: import_statuses
-- Statuses read from Brevo's list of processes, for every open import among them.
UPDATE brevo_sync.imports i SET process_status = t.status
FROM unnest(%(process_ids)s::bigint[], %(statuses)s::text[]) AS t(process_id, status)
WHERE i.process_id = t.process_id AND i.finished_at IS NULL;
