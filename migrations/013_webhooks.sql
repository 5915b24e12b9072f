-- Brevo's marketing webhooks (POST /api/webhooks/brevo).

-- Every event received, once: a delivery Brevo repeats finds its key taken and changes
-- nothing. `ts_event` is Brevo's own UTC time of the event, in seconds; `ref` tells apart
-- events of one kind, email and second (the lists or the campaign they name).
CREATE TABLE brevo_sync.webhook_events (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    event text NOT NULL,          -- unsubscribe | spam | hard_bounce | list_addition |
                                  -- contact_updated | contact_deleted | list_unsubscribe
    email_lower text NOT NULL,
    ts_event bigint NOT NULL,
    ref text NOT NULL DEFAULT '',
    customer_id uuid,
    outcome text NOT NULL,        -- applied | unchanged | stale | unknown | ignored
    message text,
    UNIQUE (event, email_lower, ts_event, ref)
);
CREATE INDEX webhook_events_received_idx ON brevo_sync.webhook_events (received_at);

-- Per email, what the newest events applied said, so that an older one arriving late never
-- undoes them: the last list addition (an unsubscribe dated before it is stale), the last
-- time Brevo showed the contact alive (a deletion dated before it is stale); the last hard
-- bounce (the admin page shows the address as undeliverable); and whether the mirror should
-- read the contact again from Brevo (a contact updated there).
CREATE TABLE brevo_sync.webhook_contacts (
    email_lower text PRIMARY KEY,
    subscribed_ts bigint NOT NULL DEFAULT 0,
    seen_ts bigint NOT NULL DEFAULT 0,
    hard_bounce_at timestamptz,
    hard_bounce_reason text,
    refresh_wanted_at timestamptz
);

-- When a customer last opted in (false -> true) in the table: an unsubscribe Brevo dated
-- before it is older news than the customer's own choice and is not applied. Rows inserted
-- opted in take their created_at instead. Only that edge fires, so other writes pay nothing.
CREATE TABLE brevo_sync.opt_ins (
    customer_id uuid PRIMARY KEY,
    opted_in_at timestamptz NOT NULL
);

CREATE FUNCTION brevo_sync.note_opt_in() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO brevo_sync.opt_ins (customer_id, opted_in_at)
    VALUES (NEW.id, clock_timestamp())
    ON CONFLICT (customer_id) DO UPDATE SET opted_in_at = EXCLUDED.opted_in_at;
    RETURN NULL;
END;
$$;

CREATE TRIGGER brevo_sync_note_opt_in
    AFTER UPDATE OF marketing_opt_in ON public.customers
    FOR EACH ROW
    WHEN (NEW.marketing_opt_in AND NOT OLD.marketing_opt_in)
    EXECUTE FUNCTION brevo_sync.note_opt_in();
