-- name: drift_rows
-- One row (customer_id, kind, renames, how) for each customer whose Brevo contact, as the
-- mirror shows it, differs from what the sync would push (brevo_sync/differs.py's rule,
-- set-based): `renames` when the contact's email changes, `how` the removal the policy makes
-- of an opted-out or deleted customer. A row that failed for good is left alone until it
-- changes: its fingerprint then differs from the failed one. A phone SQL cannot settle is kind
-- 'phone', with what differs.py needs to settle it. The customers in `opting_out` are taken
-- as opted out: the sweep opts them out (Brevo unsubscribed them) before it acts, so a plan
-- made before that sees what the sweep will do. Embedded as a CTE by drift_by_action, hence
-- no semicolon.
WITH policy AS (
    SELECT %(list_id)s::bigint AS list_id,
           -- decide.py: with no list to leave, "unlist" becomes "blocklist"
           CASE WHEN %(opt_out_action)s::text = 'unlist' AND %(list_id)s::bigint IS NULL
                THEN 'blocklist' ELSE %(opt_out_action)s::text END AS opt_out_action,
           CASE WHEN %(delete_action)s::text = 'unlist' AND %(list_id)s::bigint IS NULL
                THEN 'blocklist' ELSE %(delete_action)s::text END AS delete_action
),
opting_out AS (
    SELECT DISTINCT t.id FROM unnest(%(opting_out)s::uuid[]) AS t(id)
),
customer_rows AS (
    SELECT c.id, c.email, c.first_name, c.last_name, c.phone, c.used_welcome_offer,
           c.brevo_contact_id, c.marketing_opt_in AND o.id IS NULL AS marketing_opt_in
    FROM public.customers c
    LEFT JOIN opting_out o ON o.id = c.id
),
people AS (
    SELECT c.id, c.marketing_opt_in, c.used_welcome_offer,
           lower(btrim(c.email, E' \t\r\n')) AS email,
           btrim(coalesce(c.first_name, ''), E' \t\r\n') AS first_name,
           btrim(coalesce(c.last_name, ''), E' \t\r\n') AS last_name,
           c.phone AS phone_raw,
           nullif(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g'), '') AS phone,
           btrim(coalesce(c.phone, '')) ~ '^(\+|00)' AS phone_international,
           btrim(coalesce(c.phone, '')) LIKE '00%%' AS phone_00,
           coalesce(c.brevo_contact_id, s.brevo_contact_id) AS contact_id,
           s.status, s.removed_by_sync,
           CASE WHEN s.status = 'error'
                THEN s.error_fingerprint IS NOT DISTINCT FROM brevo_sync.fingerprint(
                         c.email, c.first_name, c.last_name, c.phone, c.marketing_opt_in,
                         c.used_welcome_offer)
                ELSE false END AS stuck,
           s.sms_withheld_fingerprint IS NOT NULL
             AND s.sms_withheld_fingerprint = brevo_sync.fingerprint(
                     c.email, c.first_name, c.last_name, c.phone, c.marketing_opt_in,
                     c.used_welcome_offer) AS sms_withheld
    FROM customer_rows c
    LEFT JOIN brevo_sync.sync_state s ON s.customer_id = c.id
),
opted_in AS (
    -- The contact the engine would work on: the known id, else the same email.
    SELECT p.*, CASE WHEN p.contact_id IS NULL THEN me ELSE mi END AS m
    FROM people p
    LEFT JOIN brevo_sync.contacts mi ON mi.id = p.contact_id
    LEFT JOIN brevo_sync.contacts me ON p.contact_id IS NULL AND me.email_lower = p.email
    WHERE p.marketing_opt_in AND NOT p.stuck
),
opted_in_drift AS (
    SELECT o.id AS customer_id,
           (o.m).id IS NOT NULL AND (o.m).email_lower IS DISTINCT FROM o.email AS renames,
           CASE
               WHEN (o.m).id IS NULL THEN 'missing'
               WHEN (o.m).email_lower IS DISTINCT FROM o.email
                 OR coalesce((o.m).first_name, '') <> o.first_name
                 OR coalesce((o.m).last_name, '') <> o.last_name
                 -- A boolean Brevo leaves out is false.
                 OR coalesce((o.m).used_welcome_offer, false)
                    <> coalesce(o.used_welcome_offer, false)
                 THEN 'attributes'
               -- A phone the sync withheld is not drift until the row changes; no phone on
               -- either side, or an international number with Brevo's digits, is the same;
               -- any other phone is settled by differs.py (it parses the number).
               WHEN NOT o.sms_withheld AND NOT CASE
                     WHEN o.phone IS NULL
                       THEN coalesce(regexp_replace((o.m).sms, '[^0-9]', '', 'g'), '') = ''
                     ELSE o.phone_international
                       AND CASE WHEN o.phone_00 THEN substr(o.phone, 3) ELSE o.phone END
                           = coalesce(regexp_replace((o.m).sms, '[^0-9]', '', 'g'), '')
                   END
                 THEN 'phone'
               WHEN o.list_drift THEN 'list'
           END AS kind,
           o.phone_raw, (o.m).sms AS held_sms, o.list_drift
    FROM (
        -- Someone who left the list in Brevo is never added back.
        SELECT o.*, coalesce(pol.list_id IS NOT NULL AND NOT (pol.list_id = ANY((o.m).list_ids))
                             AND NOT (pol.list_id = ANY((o.m).list_unsubscribed)), false)
                    AS list_drift
        FROM opted_in o CROSS JOIN policy pol
    ) o
),
opted_out_drift AS (
    SELECT p.id AS customer_id, 'opted_out' AS kind, pol.opt_out_action AS how
    FROM people p
    JOIN brevo_sync.contacts m ON m.id = p.contact_id
    CROSS JOIN policy pol
    WHERE NOT p.marketing_opt_in AND NOT p.stuck
      AND NOT coalesce(p.status = 'removed' AND p.removed_by_sync = pol.opt_out_action, false)
      AND CASE pol.opt_out_action
              WHEN 'blocklist' THEN NOT m.email_blacklisted
              WHEN 'unlist' THEN pol.list_id = ANY(m.list_ids)
              WHEN 'delete' THEN true
              ELSE false
          END
),
deleted_drift AS (
    -- A permanent error on a deleted customer is not retried: the row can no longer change.
    SELECT s.customer_id, 'deleted' AS kind, pol.delete_action AS how
    FROM brevo_sync.sync_state s
    JOIN brevo_sync.contacts m ON m.id = s.brevo_contact_id
    CROSS JOIN policy pol
    WHERE NOT EXISTS (SELECT FROM public.customers c WHERE c.id = s.customer_id)
      AND s.status <> 'error'
      AND NOT coalesce(s.status = 'removed' AND s.removed_by_sync = pol.delete_action, false)
      AND CASE pol.delete_action
              WHEN 'blocklist' THEN NOT m.email_blacklisted
              WHEN 'unlist' THEN pol.list_id = ANY(m.list_ids)
              WHEN 'delete' THEN true
              ELSE false
          END
)
SELECT customer_id, kind, kind = 'attributes' AND renames AS renames, NULL::text AS how,
       phone_raw, held_sms, list_drift
FROM opted_in_drift WHERE kind IS NOT NULL
UNION ALL
SELECT customer_id, kind, false, how, NULL, NULL, NULL FROM opted_out_drift
UNION ALL
SELECT customer_id, kind, false, how, NULL, NULL, NULL FROM deleted_drift

-- name: drift_by_action
-- The drift's customer ids grouped by kind and by what the sweep does about them, sorted;
-- drift.py puts `drift_rows` in the CTE. Kind 'phone' carries its phones for differs.py to
-- settle.
WITH drift AS (/* drift_rows */)
SELECT kind, renames, how, array_agg(customer_id ORDER BY customer_id) AS ids,
       array_agg(phone_raw ORDER BY customer_id) FILTER (WHERE kind = 'phone') AS phones,
       array_agg(held_sms ORDER BY customer_id) FILTER (WHERE kind = 'phone') AS held_sms,
       array_agg(list_drift ORDER BY customer_id) FILTER (WHERE kind = 'phone') AS list_drift
FROM drift
GROUP BY kind, renames, how;

-- name: sweep_totals
SELECT (SELECT count(*) FROM public.customers WHERE marketing_opt_in) AS opted_in,
       (SELECT count(*) FROM brevo_sync.sync_state WHERE status = 'synced') AS synced_contacts;

-- name: unsubscribe_candidates
-- Opted-in customers whose contact Brevo has blocklisted (an unsubscribe, a spam complaint,
-- a hard bounce, an admin) when the sync did not blocklist it itself, or who left the sync's
-- list in Brevo (per-list unsubscription). A stored id counts only while its contact holds
-- the customer's email (identity.py): a stale id names a stranger.
WITH blocked AS (
    SELECT id, email_lower, email_blacklisted AS blocklisted,
           %(list_id)s::bigint = ANY(list_unsubscribed) AS left_list
    FROM brevo_sync.contacts
    WHERE email_blacklisted OR %(list_id)s::bigint = ANY(list_unsubscribed)
),
people AS (
    SELECT c.id, lower(c.email) AS email,
           coalesce(c.brevo_contact_id, s.brevo_contact_id) AS contact_id,
           lower(s.pushed_email) AS pushed_email, lower(s.email) AS last_email,
           s.removed_by_sync IS NOT DISTINCT FROM 'blocklist' AS blocked_by_sync
    FROM public.customers c
    LEFT JOIN brevo_sync.sync_state s ON s.customer_id = c.id
    WHERE c.marketing_opt_in
),
matched AS (
    SELECT p.id, b.id AS contact_id, b.left_list
    FROM people p JOIN blocked b ON b.id = p.contact_id
    WHERE b.email_lower IN (p.email, p.pushed_email, p.last_email)
      AND (b.left_list OR NOT p.blocked_by_sync)
    UNION
    SELECT p.id, b.id, b.left_list
    FROM people p JOIN blocked b ON b.email_lower = p.email
    WHERE p.contact_id IS NULL AND (b.left_list OR NOT p.blocked_by_sync)
)
SELECT DISTINCT ON (id) id AS customer_id, contact_id, left_list
FROM matched
ORDER BY id, contact_id, left_list DESC;

-- name: reflect_unsubscribes
-- Opt the customers out (the trigger queues them as for any change) and say so in history.
WITH changed AS (
    UPDATE public.customers AS c SET marketing_opt_in = false, updated_at = now()
    FROM unnest(%(ids)s::uuid[], %(contact_ids)s::bigint[], %(messages)s::text[])
         AS t(id, contact_id, message)
    WHERE c.id = t.id AND c.marketing_opt_in
    RETURNING c.id, c.email, t.contact_id, t.message
)
INSERT INTO brevo_sync.history
    (customer_id, email, action, outcome, brevo_contact_id, message, source, run_id)
SELECT id, email, 'unsubscribe', 'ok', contact_id, message, %(source)s, %(run_id)s
FROM changed;

-- name: sweep_lock_session
-- The lock's transaction idles for the whole sweep: a server-wide idle-in-transaction
-- timeout would end it, and the lock with it, silently. LOCAL: through a pooler, the
-- setting must not outlive this transaction on a shared server connection.
SET LOCAL idle_in_transaction_session_timeout = 0;

-- name: sweep_try_lock
-- Held until the sweep's transaction ends, which also works through a transaction pooler.
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- name: run_start
INSERT INTO brevo_sync.runs (kind, source, status, counts)
VALUES ('reconcile', %(source)s, 'running', %(counts)s)
RETURNING id;

-- name: runs_abandoned
-- Whoever holds the sweep lock sees any other reconcile run still "running" as dead: its
-- process ended mid-way (a function stopped at its maxDuration, a killed container).
UPDATE brevo_sync.runs
SET finished_at = now(), status = 'failed',
    message = 'interrupted: the process ended before the sweep finished'
WHERE kind = 'reconcile' AND status = 'running';

-- name: run_running
SELECT id, source, started_at, counts
FROM brevo_sync.runs
WHERE kind = 'reconcile' AND status = 'running'
ORDER BY id DESC
LIMIT 1;

-- name: run_progress
UPDATE brevo_sync.runs SET counts = %(counts)s WHERE id = %(id)s AND status = 'running';

-- name: run_finish
UPDATE brevo_sync.runs
SET finished_at = now(), status = %(status)s, counts = %(counts)s, message = %(message)s
WHERE id = %(id)s;

-- name: prune_history
DELETE FROM brevo_sync.history
WHERE id IN (
    SELECT id FROM brevo_sync.history
    WHERE at < now() - make_interval(days => %(days)s)
    ORDER BY at
    LIMIT %(batch)s
);

-- name: prune_webhook_events
-- Brevo repeats a delivery within hours, and an older event's order is kept per email in
-- webhook_contacts: events past the retention are no longer needed to refuse a repeat.
DELETE FROM brevo_sync.webhook_events
WHERE id IN (
    SELECT id FROM brevo_sync.webhook_events
    WHERE received_at < now() - make_interval(days => %(days)s)
    ORDER BY received_at
    LIMIT %(batch)s
);

-- name: prune_runs
DELETE FROM brevo_sync.runs
WHERE id IN (
    SELECT id FROM brevo_sync.runs
    WHERE status <> 'running'
      AND coalesce(finished_at, started_at) < now() - make_interval(days => %(days)s)
    ORDER BY id
    LIMIT %(batch)s
);
