-- The customer views sorted by status or by the last push: a page walks these indexes in
-- order and stops after its rows (brevo_sync.views, view_walk_*), instead of sorting the
-- join of every customer with the sync's tables. On the sync's own tables only.

-- One status's customers in id order (sync_state_status_idx orders equal statuses by where
-- the rows lie, not by customer).
CREATE INDEX sync_state_status_customer_idx ON brevo_sync.sync_state (status, customer_id);

-- The customers pushed at least once, by the last push then id.
CREATE INDEX sync_state_pushed_idx ON brevo_sync.sync_state (last_synced_at, customer_id)
    WHERE last_synced_at IS NOT NULL;
