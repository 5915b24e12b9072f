-- name: status
SELECT
    (SELECT count(*) FROM public.customers) AS customers,
    (SELECT count(*) FROM public.customers WHERE marketing_opt_in) AS opted_in,
    (SELECT count(*) FROM public.customers WHERE brevo_contact_id IS NOT NULL) AS in_brevo,
    (SELECT count(*) FROM brevo_sync.queue) AS pending,
    (SELECT count(*) FROM brevo_sync.sync_state WHERE status = 'error') AS failed,
    (SELECT extract(epoch FROM now() - min(first_queued_at))::float8
       FROM brevo_sync.queue) AS oldest_pending_seconds,
    (SELECT count(*) FROM brevo_sync.contacts) AS mirrored_contacts,
    (SELECT max(finished_at) FROM brevo_sync.runs WHERE kind = 'reconcile') AS last_reconcile_at;

-- name: failed_rows
SELECT s.customer_id, s.email, s.last_error, s.last_error_code, s.last_attempt_at
FROM brevo_sync.sync_state s
WHERE s.status = 'error'
ORDER BY s.last_attempt_at DESC
LIMIT %(limit)s;
