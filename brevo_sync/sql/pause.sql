-- name: pause_record
-- A refusal: the pause starts now, or goes on (its start kept while the reason is the same).
INSERT INTO brevo_sync.account_pause AS p (status, code, reason, source)
VALUES (%(status)s, %(code)s, %(reason)s, %(source)s)
ON CONFLICT (id) DO UPDATE SET
    since = CASE WHEN p.reason = EXCLUDED.reason THEN p.since ELSE now() END,
    status = EXCLUDED.status,
    code = EXCLUDED.code,
    reason = EXCLUDED.reason,
    source = EXCLUDED.source,
    last_refused_at = now(),
    refusals = CASE WHEN p.reason = EXCLUDED.reason THEN p.refusals + 1 ELSE 1 END
RETURNING since, status, code, reason, source, last_refused_at, refusals;

-- name: pause_clear
-- Brevo answered: the pause is over.
DELETE FROM brevo_sync.account_pause
RETURNING since, status, code, reason, source, last_refused_at, refusals;

-- name: pause_read
SELECT since, status, code, reason, source, last_refused_at, refusals
FROM brevo_sync.account_pause;
