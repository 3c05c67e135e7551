-- name: AggregatesUnlock :exec
-- Release the aggregates' applier lock (as AggregatesLock).
SELECT pg_advisory_unlock(@class::integer, @id::integer);
