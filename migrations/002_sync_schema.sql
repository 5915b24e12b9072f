-- Everything the sync owns lives in schema brevo_sync.

-- Pending work: at most one row per customer. `version` grows with every change so a push
-- that raced a newer change leaves the row pending. A deleted customer's row keeps what the
-- push needs, since the customers row is gone by then.
CREATE TABLE brevo_sync.queue (
    customer_id uuid PRIMARY KEY,
    version bigint NOT NULL DEFAULT 1,
    deleted boolean NOT NULL DEFAULT false,
    deleted_email text,
    deleted_contact_id bigint,
    reason text NOT NULL DEFAULT 'change',
    first_queued_at timestamptz NOT NULL DEFAULT now(),
    queued_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz,
    claimed_by text,
    attempts integer NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX queue_ready_idx ON brevo_sync.queue (next_attempt_at, first_queued_at);

-- The idle -> busy edge: the listener sets `armed` when it finds the queue empty; the trigger
-- notifies only when it is the one to clear it, so busy periods cost no NOTIFY lock.
CREATE UNLOGGED TABLE brevo_sync.wakeup (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    armed boolean NOT NULL DEFAULT true
);
INSERT INTO brevo_sync.wakeup (id, armed) VALUES (true, true);

-- What the sync last did for each customer.
CREATE TABLE brevo_sync.sync_state (
    customer_id uuid PRIMARY KEY,
    email text,
    brevo_contact_id bigint,
    status text NOT NULL DEFAULT 'pending',      -- synced | error | skipped | removed
    last_synced_at timestamptz,
    last_attempt_at timestamptz,
    last_error text,
    last_error_code text,
    error_fingerprint text,                      -- the row's content when it failed for good
    removed_by_sync text,                        -- blocklist | unlist | delete, when the sync did it
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX sync_state_status_idx ON brevo_sync.sync_state (status);

-- The audit log the admin page shows.
CREATE TABLE brevo_sync.history (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    customer_id uuid,
    email text,
    action text NOT NULL,
    outcome text NOT NULL,                        -- ok | error | skipped
    brevo_contact_id bigint,
    message text,
    source text NOT NULL,                         -- listener | cron | admin | cli
    run_id bigint
);
CREATE INDEX history_at_idx ON brevo_sync.history (at);
CREATE INDEX history_customer_idx ON brevo_sync.history (customer_id, at);

CREATE TABLE brevo_sync.runs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,                           -- reconcile | sync_all | drain
    source text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running',       -- running | done | partial | failed | refused
    counts jsonb NOT NULL DEFAULT '{}'::jsonb,
    message text
);
CREATE INDEX runs_started_idx ON brevo_sync.runs (started_at);

-- A mirror of Brevo's contacts, refreshed by listing and by every push.
CREATE TABLE brevo_sync.contacts (
    id bigint PRIMARY KEY,
    email text,
    email_lower text GENERATED ALWAYS AS (lower(email)) STORED,
    first_name text,
    last_name text,
    sms text,
    used_welcome_offer boolean,
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    list_ids bigint[] NOT NULL DEFAULT '{}',
    email_blacklisted boolean NOT NULL DEFAULT false,
    sms_blacklisted boolean NOT NULL DEFAULT false,
    created_at timestamptz,
    modified_at timestamptz,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_email_lower_idx ON brevo_sync.contacts (email_lower);
CREATE INDEX contacts_modified_idx ON brevo_sync.contacts (modified_at);

CREATE TABLE brevo_sync.mirror_state (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    watermark timestamptz,
    last_full_refresh_at timestamptz,
    brevo_count bigint
);
INSERT INTO brevo_sync.mirror_state (id) VALUES (true);
