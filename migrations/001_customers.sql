-- The application's customers table. Created when absent; when the application already has
-- one, only the columns the sync reads or writes are added, nothing else is touched.
DO $$
BEGIN
IF to_regclass('public.customers') IS NULL THEN
CREATE TABLE public.customers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text,
    first_name text,
    last_name text,
    phone text,
    marketing_opt_in boolean NOT NULL DEFAULT false,
    used_welcome_offer boolean NOT NULL DEFAULT false,
    brevo_contact_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Matching is by email without regard to case. On an application's own table this index is
-- left for its owners to add; the sync works without it, only slower on large tables.
CREATE INDEX customers_email_lower_idx ON public.customers (lower(email));
END IF;
END
$$;

ALTER TABLE public.customers
    ADD COLUMN IF NOT EXISTS email text,
    ADD COLUMN IF NOT EXISTS first_name text,
    ADD COLUMN IF NOT EXISTS last_name text,
    ADD COLUMN IF NOT EXISTS phone text,
    ADD COLUMN IF NOT EXISTS marketing_opt_in boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS used_welcome_offer boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS brevo_contact_id bigint,
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
