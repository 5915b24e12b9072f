-- Lists a contact's person left in Brevo (per-list unsubscription, `listUnsubscribed`): the
-- sync never adds them back, and the sweep opts the customer out as for an unsubscribe.
ALTER TABLE brevo_sync.contacts
    ADD COLUMN list_unsubscribed bigint[] NOT NULL DEFAULT '{}';
