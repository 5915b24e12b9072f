-- What the sync sends is written down before it is sent: a push that reaches Brevo but is
-- never recorded (a crash, a lost connection) must not be forgotten when the row changes
-- before it is redone.
ALTER TABLE brevo_sync.sync_state
    ADD COLUMN pushed_email text;

COMMENT ON COLUMN brevo_sync.sync_state.pushed_email IS
    'The email the sync last sent (or was about to send) to Brevo for this customer';
