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

-- The overview counts pushes and failures per hour over the last 48 hours: with outcome and
-- action in the index, that is an index-only scan of the window, never a visit to the rows.
-- (Built in the migrations' transaction, it holds back history inserts while it is built:
-- seconds for a million rows.)
CREATE INDEX history_at_counts_idx ON brevo_sync.history (at) INCLUDE (outcome, action);
