-- A listener's heartbeat (listener/heartbeat.py), on its own row of brevo_sync.listeners:
-- nothing else writes that row, so these statements never wait on a lock.

-- name: heartbeat_beat
INSERT INTO brevo_sync.listeners AS l (worker, host, pid)
VALUES (%(worker)s, %(host)s, %(pid)s)
ON CONFLICT (worker) DO UPDATE SET last_seen = now(), stopped_at = NULL;

-- name: heartbeat_stopped
UPDATE brevo_sync.listeners SET stopped_at = now(), last_seen = now()
WHERE worker = %(worker)s;

-- name: heartbeat_forget
-- Listeners not heard of for a long while (stopped, crashed, replaced by a deploy).
DELETE FROM brevo_sync.listeners
WHERE last_seen < now() - make_interval(days => %(days)s);
