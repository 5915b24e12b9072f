-- A Brevo contact id names one person: no two customers may hold one. Ids held twice (a
-- restored or copied database, ids from another Brevo account, an earlier race) are
-- forgotten by every holder first, so this applies to any existing database; those customers
-- are queued and matched by email again on their next push.
CREATE TEMPORARY TABLE held_twice ON COMMIT DROP AS
WITH holders AS (
    SELECT id AS customer_id, brevo_contact_id AS contact_id
    FROM public.customers WHERE brevo_contact_id IS NOT NULL
    UNION
    SELECT customer_id, brevo_contact_id
    FROM brevo_sync.sync_state WHERE brevo_contact_id IS NOT NULL
)
SELECT customer_id, contact_id FROM holders
WHERE contact_id IN (SELECT contact_id FROM holders GROUP BY contact_id
                     HAVING count(DISTINCT customer_id) > 1);

-- brevo_contact_id is not a synced column: the trigger does not fire for these updates.
UPDATE public.customers c SET brevo_contact_id = NULL
FROM held_twice t WHERE c.brevo_contact_id = t.contact_id;

UPDATE brevo_sync.sync_state s SET brevo_contact_id = NULL
FROM held_twice t WHERE s.brevo_contact_id = t.contact_id;

UPDATE brevo_sync.queue q SET deleted_contact_id = NULL
FROM held_twice t WHERE q.deleted_contact_id = t.contact_id;

INSERT INTO brevo_sync.history (customer_id, action, outcome, brevo_contact_id, message, source)
SELECT t.customer_id, 'forget_id', 'ok', t.contact_id,
       'contact id ' || t.contact_id || ' was held by more than one customer:'
       || ' forgotten, matched by email on the next push', 'migrate'
FROM held_twice t;

INSERT INTO brevo_sync.queue (customer_id, reason)
SELECT DISTINCT t.customer_id, 'identity'
FROM held_twice t JOIN public.customers c ON c.id = t.customer_id
ON CONFLICT (customer_id) DO NOTHING;

-- Enforced on the sync's own record of who holds which contact. The application's table
-- gets no index from the sync (it may be large and is not ours); customers.brevo_contact_id
-- is written with, and after, sync_state's, and forgotten with it.
CREATE UNIQUE INDEX sync_state_brevo_contact_id_key
    ON brevo_sync.sync_state (brevo_contact_id) WHERE brevo_contact_id IS NOT NULL;

-- Which Brevo account the mirror describes (its oldest contact's id and creation time): a
-- mirror restored with the database, or kept across a change of key, is not taken for
-- another account's.
ALTER TABLE brevo_sync.mirror_state ADD COLUMN account_mark text;
