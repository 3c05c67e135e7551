-- name: AggregatesLock :exec
-- Wait for the session lock one applier of the aggregates holds at a time
-- (class, id: internal/graph's aggregatesLockClass and aggregatesLockID;
-- layerq_apply_pending checks for the same numbers).
SELECT pg_advisory_lock(@class::integer, @id::integer);
