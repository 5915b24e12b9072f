-- name: seed_customer
-- One demo customer for `brevo-sync dev`; the trigger queues it for the sync.
INSERT INTO public.customers (email, first_name, last_name, phone, marketing_opt_in,
                              used_welcome_offer)
VALUES (%s, %s, %s, %s, %s, %s);

-- name: seed_count
SELECT count(*) AS n FROM public.customers;
