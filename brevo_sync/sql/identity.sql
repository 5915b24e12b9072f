-- name: forget_customer_contact_id
-- One row, one statement: the sync never waits on a lock while holding another.
UPDATE public.customers SET brevo_contact_id = NULL
WHERE id = %(customer_id)s AND brevo_contact_id = %(contact_id)s;

-- name: forget_state_contact_id
UPDATE brevo_sync.sync_state SET brevo_contact_id = NULL
WHERE customer_id = %(customer_id)s AND brevo_contact_id = %(contact_id)s;

-- name: forget_queued_contact_id
UPDATE brevo_sync.queue SET deleted_contact_id = NULL
WHERE customer_id = %(customer_id)s AND deleted_contact_id = %(contact_id)s;

-- name: contact_id_holders
-- Other customers holding the contact ids about to be stored for these customers.
-- Joined, not looked up pair by pair: customers.brevo_contact_id has no index (see migration
-- 007), so a lookup per pair read the whole table once a pair (66 s for a batch of 20,000
-- among 100,000 customers); one hash join reads it once a batch. Each pair keeps its place
-- (n), so a holder is listed once a pair, as the lookup listed it.
WITH t AS MATERIALIZED (
    SELECT * FROM unnest(%(customer_ids)s::uuid[], %(contact_ids)s::bigint[])
        WITH ORDINALITY AS t(customer_id, contact_id, n)
),
h AS (
    SELECT t.n, o.id AS customer_id
    FROM t JOIN public.customers o
        ON o.brevo_contact_id = t.contact_id AND o.id <> t.customer_id
    UNION
    SELECT t.n, s.customer_id
    FROM t JOIN brevo_sync.sync_state s
        ON s.brevo_contact_id = t.contact_id AND s.customer_id <> t.customer_id
)
SELECT h.customer_id, t.contact_id, t.customer_id AS new_holder, c.email,
       c.id IS NOT NULL AS still_exists
FROM h JOIN t ON t.n = h.n
LEFT JOIN public.customers c ON c.id = h.customer_id
ORDER BY h.customer_id;

-- name: stored_contact_ids
SELECT count(*) AS n FROM public.customers WHERE brevo_contact_id IS NOT NULL;

-- name: forget_account
-- Brevo is another account (the emulator, which starts empty): no stored contact id names
-- anyone there, and the mirror describes the old account. Opted-in customers are queued so
-- the new account receives them.
UPDATE public.customers SET brevo_contact_id = NULL WHERE brevo_contact_id IS NOT NULL;
UPDATE brevo_sync.sync_state SET brevo_contact_id = NULL WHERE brevo_contact_id IS NOT NULL;
UPDATE brevo_sync.queue SET deleted_contact_id = NULL WHERE deleted_contact_id IS NOT NULL;
DELETE FROM brevo_sync.contacts;
UPDATE brevo_sync.mirror_state
SET watermark = NULL, last_full_refresh_at = NULL, brevo_count = NULL, account_mark = NULL;
INSERT INTO brevo_sync.queue (customer_id, reason)
SELECT id, 'new_account' FROM public.customers WHERE marketing_opt_in
ON CONFLICT (customer_id) DO NOTHING;
