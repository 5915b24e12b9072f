-- The trigger clears the wake-up flag only when no other transaction holds it. Waiting for
-- it made every customer write wait for the first writer's whole transaction (and could
-- deadlock two application transactions). A transaction that skips the flag sends no
-- NOTIFY: the one holding the flag sends it when it commits, and the listener's one-second
-- poll covers the case where that one rolls back.
CREATE OR REPLACE FUNCTION brevo_sync.enqueue_customer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO brevo_sync.queue AS q (customer_id, deleted, deleted_email, deleted_contact_id)
        VALUES (OLD.id, true, OLD.email, OLD.brevo_contact_id)
        ON CONFLICT (customer_id) DO UPDATE
            SET version = q.version + 1, deleted = true,
                deleted_email = EXCLUDED.deleted_email,
                deleted_contact_id = EXCLUDED.deleted_contact_id,
                queued_at = now(), next_attempt_at = now(), attempts = 0, last_error = NULL;
    ELSE
        INSERT INTO brevo_sync.queue AS q (customer_id)
        VALUES (NEW.id)
        ON CONFLICT (customer_id) DO UPDATE
            SET version = q.version + 1, deleted = false,
                queued_at = now(), next_attempt_at = now(), attempts = 0, last_error = NULL;
    END IF;
    UPDATE brevo_sync.wakeup SET armed = false
    WHERE id IN (SELECT id FROM brevo_sync.wakeup WHERE armed FOR UPDATE SKIP LOCKED);
    IF FOUND THEN
        PERFORM pg_notify('brevo_sync', '');
    END IF;
    RETURN NULL;
END;
$$;
