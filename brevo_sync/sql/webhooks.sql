-- name: webhook_claim_events
-- Each event once: a key already taken (a delivery Brevo repeats, or sent twice in one
-- batch) is left out of what comes back, and so never applied again.
INSERT INTO brevo_sync.webhook_events (event, email_lower, ts_event, ref, outcome)
SELECT * FROM unnest(%(kinds)s::text[], %(emails)s::text[], %(ts)s::bigint[],
                     %(refs)s::text[], %(outcomes)s::text[])
ON CONFLICT (event, email_lower, ts_event, ref) DO NOTHING
RETURNING id, event, email_lower, ts_event, ref;

-- name: webhook_lock_contacts
-- One row per email, locked in a stable order so that two deliveries about the same people
-- wait for each other instead of deciding on what the other is changing.
INSERT INTO brevo_sync.webhook_contacts (email_lower)
SELECT unnest(%(emails)s::text[])
ON CONFLICT (email_lower) DO NOTHING;

-- name: webhook_contact_states
SELECT email_lower, subscribed_ts, seen_ts,
       coalesce(extract(epoch FROM hard_bounce_at)::bigint, 0) AS hard_bounce_ts
FROM brevo_sync.webhook_contacts
WHERE email_lower = ANY(%(emails)s::text[])
ORDER BY email_lower
FOR UPDATE;

-- name: webhook_customers
-- The customers the emails name, locked: an opt-in written meanwhile waits for the decision,
-- and the decision sees it when it came first. created_at stands in for an opt-in never
-- flipped since the row was inserted. Brevo's times are whole seconds: an opt-in in the same
-- second as an unsubscribe cannot be told to be later, and the unsubscribe is applied.
SELECT c.id, lower(c.email) AS email_lower, c.marketing_opt_in, c.brevo_contact_id,
       floor(extract(epoch FROM greatest(c.created_at, o.opted_in_at)))::bigint AS opted_in_ts
FROM public.customers c
LEFT JOIN brevo_sync.opt_ins o ON o.customer_id = c.id
WHERE lower(c.email) = ANY(%(emails)s::text[])
ORDER BY c.id
FOR UPDATE OF c;

-- name: webhook_save_contacts
UPDATE brevo_sync.webhook_contacts AS w
SET subscribed_ts = t.subscribed_ts, seen_ts = t.seen_ts,
    hard_bounce_at = CASE WHEN t.hard_bounce_ts > 0 THEN to_timestamp(t.hard_bounce_ts)
                          ELSE w.hard_bounce_at END,
    hard_bounce_reason = coalesce(t.hard_bounce_reason, w.hard_bounce_reason),
    refresh_wanted_at = CASE WHEN t.refresh THEN now() ELSE w.refresh_wanted_at END
FROM unnest(%(emails)s::text[], %(subscribed)s::bigint[], %(seen)s::bigint[],
            %(bounced)s::bigint[], %(reasons)s::text[], %(refresh)s::boolean[])
     AS t(email_lower, subscribed_ts, seen_ts, hard_bounce_ts, hard_bounce_reason, refresh)
WHERE w.email_lower = t.email_lower;

-- name: webhook_record_outcomes
UPDATE brevo_sync.webhook_events AS e
SET outcome = t.outcome, message = t.message, customer_id = t.customer_id
FROM unnest(%(ids)s::bigint[], %(outcomes)s::text[], %(messages)s::text[],
            %(customer_ids)s::uuid[]) AS t(id, outcome, message, customer_id)
WHERE e.id = t.id;

-- name: webhook_history
-- What the admin page's history shows of events that change no column (a hard bounce).
INSERT INTO brevo_sync.history (customer_id, email, action, outcome, brevo_contact_id,
                                message, source)
SELECT c.id, c.email, t.action, 'ok', c.brevo_contact_id, t.message, 'webhook'
FROM unnest(%(ids)s::uuid[], %(actions)s::text[], %(messages)s::text[])
     AS t(id, action, message)
JOIN public.customers c ON c.id = t.id;

-- name: webhook_forget_contacts
-- A contact deleted in Brevo leaves the mirror; the next sweep decides by the policy what
-- its customer needs (a customer opted in is then "missing" from Brevo).
DELETE FROM brevo_sync.contacts WHERE email_lower = ANY(%(emails)s::text[]);

-- name: webhook_refreshed
UPDATE brevo_sync.webhook_contacts SET refresh_wanted_at = NULL
WHERE email_lower = ANY(%(emails)s::text[]) AND refresh_wanted_at <= %(since)s;

-- name: webhook_last_delivery
SELECT max(received_at) AS last_received_at, count(*) AS events,
       count(*) FILTER (WHERE received_at > now() - interval '1 day') AS last_day
FROM brevo_sync.webhook_events;
