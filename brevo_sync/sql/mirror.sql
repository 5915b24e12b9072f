-- name: mirror_state
SELECT watermark, last_full_refresh_at, brevo_count, account_mark,
       (SELECT count(*) FROM brevo_sync.contacts) AS mirror_count,
       now() AS db_now
FROM brevo_sync.mirror_state;

-- name: mirror_release_emails
-- A listed contact whose email changed in Brevo lets go of its old one first, so that two
-- contacts swapping emails within one page never trip the unique email index.
UPDATE brevo_sync.contacts AS m SET email = NULL
FROM unnest(%(ids)s::bigint[], %(emails)s::text[]) AS t(id, email)
WHERE m.id = t.id AND m.email_lower IS DISTINCT FROM lower(t.email)
  AND (%(fetched_at)s::timestamptz IS NULL OR m.seen_at <= %(fetched_at)s::timestamptz);

-- name: mirror_upsert
-- One page of listed contacts, as Brevo holds them now. Attribute names are the account's
-- (settings BREVO_ATTR_*); a boolean Brevo leaves out reads as false.
INSERT INTO brevo_sync.contacts AS m
    (id, email, first_name, last_name, sms, used_welcome_offer, attributes, list_ids,
     list_unsubscribed, email_blacklisted, sms_blacklisted, created_at, modified_at, seen_at)
SELECT t.id, t.email, t.attributes->>%(attr_firstname)s, t.attributes->>%(attr_lastname)s,
       nullif(t.attributes->>%(attr_sms)s, ''),
       coalesce(lower(t.attributes->>%(attr_used_welcome_offer)s) = 'true', false),
       t.attributes, t.list_ids, t.list_unsubscribed, t.email_blacklisted, t.sms_blacklisted,
       t.created_at, t.modified_at, now()
FROM (
    SELECT x.id, x.email, x.attributes::jsonb AS attributes, x.list_ids::bigint[] AS list_ids,
           x.list_unsubscribed::bigint[] AS list_unsubscribed,
           x.email_blacklisted, x.sms_blacklisted, x.created_at, x.modified_at
    FROM unnest(%(ids)s::bigint[], %(emails)s::text[], %(attributes)s::text[],
                %(list_ids)s::text[], %(list_unsubscribed)s::text[],
                %(email_blacklisted)s::boolean[],
                %(sms_blacklisted)s::boolean[], %(created_at)s::timestamptz[],
                %(modified_at)s::timestamptz[])
         AS x(id, email, attributes, list_ids, list_unsubscribed, email_blacklisted,
              sms_blacklisted, created_at, modified_at)
    ORDER BY x.id
) AS t
ON CONFLICT (id) DO UPDATE SET
    email = EXCLUDED.email,
    first_name = EXCLUDED.first_name,
    last_name = EXCLUDED.last_name,
    sms = EXCLUDED.sms,
    used_welcome_offer = EXCLUDED.used_welcome_offer,
    attributes = EXCLUDED.attributes,
    list_ids = EXCLUDED.list_ids,
    list_unsubscribed = EXCLUDED.list_unsubscribed,
    email_blacklisted = EXCLUDED.email_blacklisted,
    sms_blacklisted = EXCLUDED.sms_blacklisted,
    created_at = EXCLUDED.created_at,
    modified_at = EXCLUDED.modified_at,
    seen_at = now()
WHERE %(fetched_at)s::timestamptz IS NULL OR m.seen_at <= %(fetched_at)s::timestamptz;

-- name: mirror_prune
-- After a full listing: contacts not seen since it began are gone from Brevo. Pushes made
-- meanwhile stamp seen_at themselves, so they are kept.
DELETE FROM brevo_sync.contacts WHERE seen_at < %(since)s;

-- name: mirror_save_state
UPDATE brevo_sync.mirror_state SET
    watermark = %(watermark)s,
    brevo_count = %(brevo_count)s,
    last_full_refresh_at = CASE WHEN %(full)s THEN now() ELSE last_full_refresh_at END,
    account_mark = %(mark)s;

-- name: mirror_contact
SELECT email, created_at FROM brevo_sync.contacts WHERE id = %(id)s;

-- name: mirror_wipe
-- The mirror described another Brevo account: none of it holds for this one.
DELETE FROM brevo_sync.contacts;

-- name: mirror_mark
-- The account the mirror describes from now on; a wiped mirror is listed in full next time.
UPDATE brevo_sync.mirror_state SET
    account_mark = %(mark)s,
    watermark = CASE WHEN %(wiped)s THEN NULL ELSE watermark END,
    last_full_refresh_at = CASE WHEN %(wiped)s THEN NULL ELSE last_full_refresh_at END,
    brevo_count = CASE WHEN %(wiped)s THEN NULL ELSE brevo_count END;

-- name: mirror_count
SELECT count(*) AS n FROM brevo_sync.contacts;
