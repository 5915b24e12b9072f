-- The sync history as the admin page reads it. `{where}` is built from the fixed
-- history_where_* fragments; the values are bound parameters.

-- name: history_where_customer
h.customer_id = %(customer_id)s

-- name: history_where_email
lower(h.email) = %(email)s

-- name: history_where_outcome
h.outcome = %(outcome)s

-- name: history_where_action
h.action = %(action)s

-- name: history_where_source
h.source = %(source)s

-- name: history_rows
SELECT h.id, h.at, h.customer_id, h.email, h.action, h.outcome, h.brevo_contact_id,
       h.message, h.source, h.run_id
FROM brevo_sync.history h
WHERE {where}
ORDER BY h.at DESC, h.id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: history_count
-- Counting stops at a cap: the page shows "10000+" rather than scan a long history.
SELECT count(*) AS total
FROM (SELECT FROM brevo_sync.history h WHERE {where} LIMIT %(cap)s) AS capped;
