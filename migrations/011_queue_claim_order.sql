-- The claim takes the oldest ready rows first: an index in that order lets it stop after the
-- rows it leases instead of sorting the whole backlog, whatever the planner's statistics say
-- (an idle queue's autoanalyze records it empty just before a resync fills it).
CREATE INDEX queue_first_queued_idx ON brevo_sync.queue (first_queued_at);
