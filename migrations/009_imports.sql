-- Imports are durable jobs. Brevo queues an import for minutes and answers with a process id,
-- the only handle on it: the rows an import carries are written down before it is posted, and
-- the id as soon as Brevo answers, so a restarted process resumes waiting for it instead of
-- importing the same rows again.
CREATE TABLE brevo_sync.imports (
    id bigserial PRIMARY KEY,
    process_id bigint,                       -- Brevo's, once it answered the POST
    status text NOT NULL DEFAULT 'posting',  -- posting | waiting | unknown | done | failed | refused
    process_status text,                     -- what Brevo last said: queued, processing, ...
    rows integer NOT NULL,
    since timestamptz NOT NULL,              -- contacts modified from here on are listed
    created_at timestamptz NOT NULL DEFAULT now(),
    posted_at timestamptz,
    finished_at timestamptz,
    next_check_at timestamptz NOT NULL DEFAULT now(),
    checks integer NOT NULL DEFAULT 0,
    polls integer NOT NULL DEFAULT 0,
    claimed_by text,                         -- the process posting or checking it right now
    claimed_until timestamptz,
    error text
);
CREATE INDEX imports_open_idx ON brevo_sync.imports (next_check_at) WHERE finished_at IS NULL;

-- The rows an open import carries, as they were sent.
CREATE TABLE brevo_sync.import_rows (
    import_id bigint NOT NULL REFERENCES brevo_sync.imports (id) ON DELETE CASCADE,
    customer_id uuid NOT NULL,
    version bigint NOT NULL,
    email text NOT NULL,
    action text NOT NULL,
    note text,                                 -- for the history: a phone left out, say
    sms_withheld boolean NOT NULL DEFAULT false,
    PRIMARY KEY (import_id, customer_id)
);

-- A queue row in an import holds a lease that does not expire (claimed_by 'import:<id>') until
-- the import is settled; import_id stays after a failed import so the row goes one by one.
ALTER TABLE brevo_sync.queue
    ADD COLUMN import_id bigint;

-- /processes is in Brevo's "other" group, 100 calls an hour for the whole account: every
-- process of the deployment takes its turn here, so polls stay spaced whoever makes them.
CREATE TABLE brevo_sync.process_polls (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_polled_at timestamptz,
    polls bigint NOT NULL DEFAULT 0
);
INSERT INTO brevo_sync.process_polls (id) VALUES (true);
