-- Queue every change to a synced column, and wake the listener only on the idle -> busy edge.
-- The flag is cleared only when no other transaction holds it: waiting for it would make
-- every customer write wait for the first writer's whole transaction (and could deadlock two
-- application transactions). A transaction that skips it sends no NOTIFY: the one holding the
-- flag sends it at commit, and the listener's one-second poll covers a rollback.
CREATE FUNCTION brevo_sync.enqueue_customer() RETURNS trigger
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

CREATE TRIGGER brevo_sync_enqueue_insert_delete
    AFTER INSERT OR DELETE ON public.customers
    FOR EACH ROW EXECUTE FUNCTION brevo_sync.enqueue_customer();

-- Bookkeeping columns (brevo_contact_id, updated_at) are left out on purpose: writing the
-- contact id back must not queue the customer again.
CREATE TRIGGER brevo_sync_enqueue_update
    AFTER UPDATE OF email, first_name, last_name, phone, marketing_opt_in, used_welcome_offer
    ON public.customers
    FOR EACH ROW
    WHEN ((OLD.email, OLD.first_name, OLD.last_name, OLD.phone,
           OLD.marketing_opt_in, OLD.used_welcome_offer)
          IS DISTINCT FROM
          (NEW.email, NEW.first_name, NEW.last_name, NEW.phone,
           NEW.marketing_opt_in, NEW.used_welcome_offer))
    EXECUTE FUNCTION brevo_sync.enqueue_customer();

-- The synced content of a row, to tell whether a row that failed for good has changed since.
CREATE FUNCTION brevo_sync.fingerprint(
    email text, first_name text, last_name text, phone text,
    marketing_opt_in boolean, used_welcome_offer boolean
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5(jsonb_build_array(email, first_name, last_name, phone,
                                 marketing_opt_in, used_welcome_offer)::text)
$$;
