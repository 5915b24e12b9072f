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
