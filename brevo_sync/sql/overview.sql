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

-- name: overview_hours_fill
-- Count the settled hours of the window not counted yet (the empty ones too, as zeros), and
-- keep them. A push is an attempt that changed Brevo (create, update, remove); a failure
-- one that did not (refused, or to retry). Two overviews filling at once: the first wins.
WITH missing AS (
    SELECT s.hour
    FROM generate_series(%(start)s::timestamptz, %(settled)s::timestamptz - interval '1 hour',
                         interval '1 hour') AS s(hour)
    WHERE NOT EXISTS (SELECT FROM brevo_sync.history_hours k WHERE k.hour = s.hour)
),
counted AS (
    SELECT date_trunc('hour', h.at, 'UTC') AS hour,
           count(*) FILTER (WHERE h.outcome = 'ok' AND h.action = ANY(%(push_actions)s))
               AS pushes,
           count(*) FILTER (WHERE h.outcome IN ('error', 'retry')) AS failures,
           count(*) FILTER (WHERE h.outcome = 'retry') AS retries
    FROM brevo_sync.history h
    WHERE h.at >= (SELECT min(hour) FROM missing)
      AND h.at < (SELECT max(hour) FROM missing) + interval '1 hour'
    GROUP BY 1
)
INSERT INTO brevo_sync.history_hours (hour, pushes, failures, retries)
SELECT m.hour, coalesce(c.pushes, 0), coalesce(c.failures, 0), coalesce(c.retries, 0)
FROM missing m LEFT JOIN counted c ON c.hour = m.hour
ON CONFLICT (hour) DO NOTHING;

-- name: overview_hours_forget
-- Hours gone out of the window, with a day's margin.
DELETE FROM brevo_sync.history_hours WHERE hour < %(start)s::timestamptz - interval '1 day';

-- name: overview_hours
-- Every hour of the window (UTC), oldest first: settled ones as kept, open ones counted now.
WITH open AS (
    SELECT date_trunc('hour', h.at, 'UTC') AS hour,
           count(*) FILTER (WHERE h.outcome = 'ok' AND h.action = ANY(%(push_actions)s))
               AS pushes,
           count(*) FILTER (WHERE h.outcome IN ('error', 'retry')) AS failures,
           count(*) FILTER (WHERE h.outcome = 'retry') AS retries
    FROM brevo_sync.history h
    WHERE h.at >= greatest(%(settled)s::timestamptz, %(start)s::timestamptz)
    GROUP BY 1
)
SELECT s.hour,
       coalesce(k.pushes, o.pushes, 0) AS pushes,
       coalesce(k.failures, o.failures, 0) AS failures,
       coalesce(k.retries, o.retries, 0) AS retries
FROM generate_series(%(start)s::timestamptz, %(current)s::timestamptz, interval '1 hour')
     AS s(hour)
LEFT JOIN brevo_sync.history_hours k ON k.hour = s.hour AND s.hour < %(settled)s::timestamptz
LEFT JOIN open o ON o.hour = s.hour
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
