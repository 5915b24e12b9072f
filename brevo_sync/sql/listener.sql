-- name: listener_leases
-- Leases a listener still holds after its drain failed midway or its stop deadline cut pushes
-- off. Nothing of that worker is in flight any more.
SELECT customer_id FROM brevo_sync.queue
WHERE claimed_by = %(worker)s AND claimed_until > now();

-- name: listener_end_lease
-- End one lease now instead of at expiry; one row a statement, so that it never holds a lock
-- an application transaction waits for. claimed_by stays, as a trace that a push may have
-- reached Brevo unrecorded.
UPDATE brevo_sync.queue
SET claimed_until = now()
WHERE customer_id = %(customer_id)s AND claimed_by = %(worker)s AND claimed_until > now();
