-- The overview page's figures (brevo_sync/overview.py). Each is one short read; together
-- they must answer in well under 100 ms with a million history rows (bench/bench_overview.py).

-- name: overview_listeners
-- Running listeners first, then the most recently seen; a deploy leaves its stopped ones.
SELECT worker, host, pid, started_at, last_seen, stopped_at,
       greatest(extract(epoch FROM now() - last_seen), 0)::float8 AS seen_seconds_ago
FROM brevo_sync.listeners
ORDER BY (stopped_at IS NULL AND last_seen > now() - make_interval(secs => %(stale)s)) DESC,
         last_seen DESC, worker
LIMIT %(limit)s;

-- name: overview_queue
SELECT count(*) AS pending,
       count(*) FILTER (WHERE next_attempt_at <= now()
                        AND (claimed_until IS NULL OR claimed_until < now())) AS ready,
       count(*) FILTER (WHERE claimed_until >= now()) AS in_flight,
       count(*) FILTER (WHERE next_attempt_at > now()
                        AND (claimed_until IS NULL OR claimed_until < now())) AS retrying,
       min(first_queued_at) AS oldest_queued_at,
       -- greatest() skips a NULL: an empty queue would say 0 s instead of none.
       CASE WHEN count(*) > 0
            THEN greatest(extract(epoch FROM now() - min(first_queued_at)), 0)::float8
       END AS oldest_seconds
FROM brevo_sync.queue;

-- name: overview_settings
-- For the overview's transaction only. Its statements read a few index ranges and one small
-- table: compiling them (planned for 1000 hours, as generate_series is) or starting a
-- parallel worker to count the queue cost more than running them (measured: 15 ms each).
SELECT set_config('jit', 'off', true),
       set_config('max_parallel_workers_per_gather', '0', true);

-- name: overview_fill_lock
-- One overview at a time brings the kept counts forward; the others read past them.
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- name: overview_hours_fill
-- Count each hour's settled rows not counted yet (before `settled`, a minute ago) and add
-- them to the kept counts, empty hours as zeros. A push is an attempt that changed Brevo
-- (create, update, remove); a failure one that did not (refused, or to retry).
WITH todo AS (
    SELECT s.hour, coalesce(k.counted_until, s.hour) AS from_at,
           least(s.hour + interval '1 hour', %(settled)s::timestamptz) AS to_at
    FROM generate_series(%(start)s::timestamptz, %(current)s::timestamptz, interval '1 hour')
         AS s(hour)
    LEFT JOIN brevo_sync.history_hours k ON k.hour = s.hour
),
-- Each hour a range of history_at_counts_idx of its own (a join would read the window).
counted AS (
    SELECT t.hour, t.to_at, c.pushes, c.failures, c.retries
    FROM todo t
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE h.outcome = 'ok' AND h.action = ANY(%(push_actions)s))
                   AS pushes,
               count(*) FILTER (WHERE h.outcome IN ('error', 'retry')) AS failures,
               count(*) FILTER (WHERE h.outcome = 'retry') AS retries
        FROM brevo_sync.history h
        WHERE h.at >= t.from_at AND h.at < t.to_at
    ) AS c
    WHERE t.to_at > t.from_at
)
INSERT INTO brevo_sync.history_hours AS k (hour, pushes, failures, retries, counted_until)
SELECT hour, pushes, failures, retries, to_at FROM counted
ON CONFLICT (hour) DO UPDATE SET
    pushes = k.pushes + EXCLUDED.pushes,
    failures = k.failures + EXCLUDED.failures,
    retries = k.retries + EXCLUDED.retries,
    counted_until = EXCLUDED.counted_until;

-- name: overview_hours_forget
-- Hours gone out of the window, with a day's margin.
DELETE FROM brevo_sync.history_hours WHERE hour < %(start)s::timestamptz - interval '1 day';

-- name: overview_hours
-- Every hour of the window (UTC), oldest first: the kept counts, plus the rows after them.
SELECT s.hour,
       coalesce(k.pushes, 0) + o.pushes AS pushes,
       coalesce(k.failures, 0) + o.failures AS failures,
       coalesce(k.retries, 0) + o.retries AS retries
FROM generate_series(%(start)s::timestamptz, %(current)s::timestamptz, interval '1 hour')
     AS s(hour)
LEFT JOIN brevo_sync.history_hours k ON k.hour = s.hour
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE h.outcome = 'ok' AND h.action = ANY(%(push_actions)s))
               AS pushes,
           count(*) FILTER (WHERE h.outcome IN ('error', 'retry')) AS failures,
           count(*) FILTER (WHERE h.outcome = 'retry') AS retries
    FROM brevo_sync.history h
    WHERE h.at >= coalesce(k.counted_until, s.hour) AND h.at < s.hour + interval '1 hour'
) AS o
ORDER BY s.hour;

-- name: overview_sweeps
-- The last reconcile runs (hourly cron, `reconcile`, the admin's Sync All), newest first.
SELECT id, source, started_at, finished_at, status, counts, message,
       greatest(extract(epoch FROM coalesce(finished_at, now()) - started_at), 0)::float8
           AS seconds
FROM brevo_sync.runs
WHERE kind = 'reconcile'
ORDER BY started_at DESC, id DESC
LIMIT %(limit)s;

-- name: overview_now
SELECT now() AS now;
