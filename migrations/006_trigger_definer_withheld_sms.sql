-- The queue keys rows by the customer's uuid: an application table whose id is of another
-- type would take these migrations and then fail every write. Refuse it, saying why.
DO $$
DECLARE id_type text;
BEGIN
    SELECT format_type(atttypid, atttypmod) INTO id_type FROM pg_attribute
    WHERE attrelid = 'public.customers'::regclass AND attname = 'id' AND NOT attisdropped;
    IF id_type IS DISTINCT FROM 'uuid' THEN
        RAISE EXCEPTION 'customers.id is %, the sync needs a uuid primary key', coalesce(id_type, 'missing')
            USING HINT = 'See the README: what an existing customers table must have.';
    END IF;
END
$$;

-- The trigger's function runs with its owner's rights (the role that migrates), so an
-- application role with no right on schema brevo_sync can still write `customers`. The fixed
-- search_path keeps a writer's own objects from standing in for the ones the function names.
ALTER FUNCTION brevo_sync.enqueue_customer() SECURITY DEFINER;
ALTER FUNCTION brevo_sync.enqueue_customer() SET search_path = pg_catalog, pg_temp;

-- A customer pushed without their phone, because Brevo holds that number on another contact:
-- the row's fingerprint then. The sweep does not count the missing SMS as drift until the
-- row changes, so the refused number is not sent again every hour. (Some databases received
-- this column with an earlier copy of 005, hence IF NOT EXISTS.)
ALTER TABLE brevo_sync.sync_state
    ADD COLUMN IF NOT EXISTS sms_withheld_fingerprint text;
