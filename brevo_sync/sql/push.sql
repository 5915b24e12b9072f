-- name: claimed_customers_with_state
-- Everything the decision needs for a batch of claimed customers, in one round trip.
WITH batch AS (
    SELECT t.id FROM unnest(%(ids)s::uuid[]) AS t(id)
),
rows AS (
    SELECT b.id AS queued_id, c.*
    FROM batch b LEFT JOIN public.customers c ON c.id = b.id
),
owners AS (
    -- Emails equal but for case: the earliest opted-in customer owns the Brevo contact.
    SELECT DISTINCT ON (r.id) r.id, o.id AS owner_id
    FROM rows r
    JOIN public.customers o
      ON lower(o.email) = lower(r.email) AND o.marketing_opt_in AND o.id <> r.id
     AND (o.created_at, o.id) < (r.created_at, r.id)
    WHERE r.marketing_opt_in
    ORDER BY r.id, o.created_at, o.id
)
SELECT r.queued_id, r.id, r.email, r.first_name, r.last_name, r.phone,
       r.marketing_opt_in, r.used_welcome_offer, r.brevo_contact_id,
       brevo_sync.fingerprint(r.email, r.first_name, r.last_name, r.phone,
                              r.marketing_opt_in, r.used_welcome_offer) AS fingerprint,
       s.email AS s_email, s.brevo_contact_id AS s_contact_id, s.status AS s_status,
       s.removed_by_sync AS s_removed_by_sync, s.pushed_email AS s_pushed_email,
       m.id AS m_id, m.email AS m_email, m.attributes AS m_attributes,
       m.list_ids AS m_list_ids, m.email_blacklisted AS m_email_blacklisted,
       m.list_unsubscribed AS m_list_unsubscribed,
       ow.owner_id AS shares_email_with
FROM rows r
LEFT JOIN brevo_sync.sync_state s ON s.customer_id = r.queued_id
LEFT JOIN owners ow ON ow.id = r.id
LEFT JOIN LATERAL (
    SELECT * FROM brevo_sync.contacts m
    WHERE m.id = coalesce(r.brevo_contact_id, s.brevo_contact_id)
       OR m.email_lower = lower(r.email)
    ORDER BY m.id = coalesce(r.brevo_contact_id, s.brevo_contact_id) DESC NULLS LAST
    LIMIT 1
) m ON true;

-- name: write_back
-- Store the contact id on the customer. brevo_contact_id is not a synced column, so the
-- trigger does not fire and the customer is not queued again.
UPDATE public.customers SET brevo_contact_id = %(contact_id)s
WHERE id = %(customer_id)s AND brevo_contact_id IS DISTINCT FROM %(contact_id)s;

-- name: save_state
INSERT INTO brevo_sync.sync_state AS s
    (customer_id, email, brevo_contact_id, status, last_synced_at, last_attempt_at,
     last_error, last_error_code, error_fingerprint, removed_by_sync, attempts,
     sms_withheld_fingerprint)
SELECT t.customer_id, t.email, t.contact_id, t.status,
       CASE WHEN t.status IN ('synced', 'removed') THEN now() END, now(),
       t.error, t.error_code, t.fingerprint, t.removed_by_sync, 1, t.sms_withheld
FROM unnest(%(customer_ids)s::uuid[], %(emails)s::text[], %(contact_ids)s::bigint[],
            %(statuses)s::text[], %(errors)s::text[], %(error_codes)s::text[],
            %(fingerprints)s::text[], %(removed)s::text[], %(sms_withheld)s::text[])
     AS t(customer_id, email, contact_id, status, error, error_code, fingerprint,
          removed_by_sync, sms_withheld)
ORDER BY t.customer_id
ON CONFLICT (customer_id) DO UPDATE SET
    email = coalesce(EXCLUDED.email, s.email),
    brevo_contact_id = coalesce(EXCLUDED.brevo_contact_id, s.brevo_contact_id),
    status = EXCLUDED.status,
    last_synced_at = coalesce(EXCLUDED.last_synced_at, s.last_synced_at),
    last_attempt_at = EXCLUDED.last_attempt_at,
    last_error = EXCLUDED.last_error,
    last_error_code = EXCLUDED.last_error_code,
    error_fingerprint = EXCLUDED.error_fingerprint,
    removed_by_sync = CASE WHEN EXCLUDED.status IN ('synced', 'removed')
                           THEN EXCLUDED.removed_by_sync ELSE s.removed_by_sync END,
    attempts = CASE WHEN EXCLUDED.status = 'error' THEN s.attempts + 1 ELSE 0 END,
    sms_withheld_fingerprint = CASE WHEN EXCLUDED.status = 'synced'
                                    THEN EXCLUDED.sms_withheld_fingerprint
                                    ELSE s.sms_withheld_fingerprint END;

-- name: add_history
INSERT INTO brevo_sync.history
    (customer_id, email, action, outcome, brevo_contact_id, message, source, run_id)
SELECT t.customer_id, t.email, t.action, t.outcome, t.contact_id, t.message,
       %(source)s, %(run_id)s
FROM unnest(%(customer_ids)s::uuid[], %(emails)s::text[], %(actions)s::text[],
            %(outcomes)s::text[], %(contact_ids)s::bigint[], %(messages)s::text[])
     AS t(customer_id, email, action, outcome, contact_id, message);

-- name: forget_contact_emails
-- A rename or a new contact takes an email another mirrored contact held: that one is stale.
DELETE FROM brevo_sync.contacts
WHERE email_lower = ANY(%(emails)s::text[]) AND NOT (id = ANY(%(ids)s::bigint[]));

-- name: mirror_push
-- What a successful push tells us Brevo now holds, under the account's attribute names.
-- The lists the person left are kept as the mirror knew them (see mirror_list_unsubscribed).
INSERT INTO brevo_sync.contacts AS m
    (id, email, first_name, last_name, sms, used_welcome_offer, attributes, list_ids,
     email_blacklisted, modified_at, seen_at)
SELECT t.id, t.email, t.attributes->>%(attr_firstname)s, t.attributes->>%(attr_lastname)s,
       nullif(t.attributes->>%(attr_sms)s, ''),
       (t.attributes->>%(attr_used_welcome_offer)s)::boolean,
       t.attributes, t.list_ids, t.email_blacklisted, now(), now()
FROM (
    SELECT x.id, x.email, x.attributes::jsonb AS attributes,
           ARRAY(SELECT jsonb_array_elements_text(x.list_ids::jsonb)::bigint) AS list_ids,
           x.email_blacklisted
    FROM unnest(%(ids)s::bigint[], %(emails)s::text[], %(attributes)s::text[],
                %(list_ids)s::text[], %(blacklisted)s::boolean[])
         AS x(id, email, attributes, list_ids, email_blacklisted)
    ORDER BY x.id
) AS t
ON CONFLICT (id) DO UPDATE SET
    email = EXCLUDED.email,
    first_name = coalesce(EXCLUDED.first_name, m.first_name),
    last_name = coalesce(EXCLUDED.last_name, m.last_name),
    sms = CASE WHEN EXCLUDED.attributes ? %(attr_sms)s THEN EXCLUDED.sms ELSE m.sms END,
    used_welcome_offer = coalesce(EXCLUDED.used_welcome_offer, m.used_welcome_offer),
    attributes = m.attributes || EXCLUDED.attributes,
    list_ids = EXCLUDED.list_ids,
    email_blacklisted = EXCLUDED.email_blacklisted,
    modified_at = now(),
    seen_at = now();

-- name: mirror_list_unsubscribed
-- The lists the person left, for contacts a push read from Brevo.
UPDATE brevo_sync.contacts AS m SET list_unsubscribed = t.list_ids::bigint[]
FROM unnest(%(ids)s::bigint[], %(list_ids)s::text[]) AS t(id, list_ids)
WHERE m.id = t.id;

-- name: mirror_forget
DELETE FROM brevo_sync.contacts WHERE id = ANY(%(ids)s::bigint[]);

-- name: write_back_batch
-- The set-based write-back: rows the application holds right now are skipped, never waited
-- on (so the sync cannot deadlock with it), and written one by one afterwards.
WITH batch AS (
    SELECT * FROM unnest(%(customer_ids)s::uuid[], %(contact_ids)s::bigint[])
        AS t(customer_id, contact_id)
),
free AS (
    SELECT c.id FROM public.customers c
    WHERE c.id = ANY(%(customer_ids)s::uuid[])
    ORDER BY c.id
    FOR UPDATE SKIP LOCKED
),
written AS (
    UPDATE public.customers c SET brevo_contact_id = b.contact_id
    FROM batch b, free f
    WHERE c.id = b.customer_id AND f.id = c.id
      AND c.brevo_contact_id IS DISTINCT FROM b.contact_id
)
SELECT id FROM free;

-- name: note_intent
-- Before the calls: the email about to be sent, or the removal about to be made.
INSERT INTO brevo_sync.sync_state AS s (customer_id, pushed_email, removed_by_sync)
SELECT t.customer_id, t.email, t.removal
FROM unnest(%(customer_ids)s::uuid[], %(emails)s::text[], %(removals)s::text[])
     AS t(customer_id, email, removal)
ORDER BY t.customer_id
ON CONFLICT (customer_id) DO UPDATE SET
    pushed_email = coalesce(EXCLUDED.pushed_email, s.pushed_email),
    removed_by_sync = coalesce(EXCLUDED.removed_by_sync, s.removed_by_sync);
