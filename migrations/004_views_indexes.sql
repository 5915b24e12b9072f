-- Indexes behind the admin page's views and history filters, on the sync's own tables only:
-- the application's customers table keeps just the index 001 gives it.

-- The Brevo view sorted by name (the email and modified-at orders have indexes already).
CREATE INDEX contacts_name_idx
    ON brevo_sync.contacts (lower(last_name), lower(first_name), id);

-- History filtered by a customer's email or by outcome, newest first.
CREATE INDEX history_email_idx ON brevo_sync.history (lower(email), at);
CREATE INDEX history_outcome_idx ON brevo_sync.history (outcome, at);
