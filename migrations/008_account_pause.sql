-- While Brevo refuses the account (401 revoked or wrong key, 401 unauthorised IP, 402 no
-- credits, 403 permission denied or account under validation), pushing pauses: one row says
-- why and since when, for `status`, /readyz and the admin page. It never holds the key.
CREATE TABLE brevo_sync.account_pause (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    since timestamptz NOT NULL DEFAULT now(),
    status integer NOT NULL,                      -- Brevo's HTTP status: 401, 402, 403
    code text,                                    -- Brevo's code, e.g. not_enough_credits
    reason text NOT NULL,                         -- Brevo's answer, as the client words it
    source text NOT NULL,                         -- listener | cron | admin | cli
    last_refused_at timestamptz NOT NULL DEFAULT now(),
    refusals integer NOT NULL DEFAULT 1           -- refused calls and probes since `since`
);

-- Earlier versions recorded such refusals against the customers as permanent errors, and a
-- permanent error waits for the row to change: those customers would never be pushed. Queue
-- them again (deleted ones with what their removal needs) and drop the error.
WITH stranded AS (
    SELECT s.customer_id, s.email, s.brevo_contact_id, c.id IS NULL AS deleted
    FROM brevo_sync.sync_state s
    LEFT JOIN public.customers c ON c.id = s.customer_id
    WHERE s.status = 'error'
      AND s.last_error_code IN ('401', '402', '403', 'unauthorized', 'not_enough_credits',
                                'permission_denied', 'account_under_validation')
),
queued AS (
    INSERT INTO brevo_sync.queue AS q
        (customer_id, deleted, deleted_email, deleted_contact_id, reason)
    SELECT customer_id, deleted, CASE WHEN deleted THEN email END,
           CASE WHEN deleted THEN brevo_contact_id END, 'account_refusal'
    FROM stranded
    ON CONFLICT (customer_id) DO UPDATE SET next_attempt_at = now(), attempts = 0
    RETURNING q.customer_id
)
UPDATE brevo_sync.sync_state s
SET status = 'pending', last_error = NULL, last_error_code = NULL, error_fingerprint = NULL
FROM queued
WHERE s.customer_id = queued.customer_id;
