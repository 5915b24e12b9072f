-- Each running listener says it is alive: one row per process (the engine's worker id,
-- host:pid:random), its last_seen moved forward every few seconds from the listener's loop,
-- stopped_at set when it stops gracefully. The overview page reads "running" from a recent
-- last_seen, and "not running since" from stopped_at or a last_seen gone stale.
CREATE TABLE brevo_sync.listeners (
    worker text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    stopped_at timestamptz
);

-- The overview's pushes and failures per hour over the last 48 hours. History rows carry the
-- time their own (short) statement started, so rows older than a minute no longer change:
-- they are counted once, by the first overview to need them, and the counts kept here, each
-- hour's up to `counted_until`; a read counts only the rows after that. Counting the whole
-- window on every read took 130 ms with 250,000 rows in it (bench/bench_overview.py).
CREATE TABLE brevo_sync.history_hours (
    hour timestamptz PRIMARY KEY,                 -- the hour's start, UTC
    pushes integer NOT NULL,
    failures integer NOT NULL,
    retries integer NOT NULL,
    counted_until timestamptz NOT NULL            -- rows from `hour` up to here are counted
);

-- With outcome and action in the index, counting an hour is an index-only scan of its range,
-- never a visit to the rows. (Built in the migrations' transaction, it holds back history
-- inserts while it is built: seconds for a million rows.)
CREATE INDEX history_at_counts_idx ON brevo_sync.history (at) INCLUDE (outcome, action);
