-- name: AggregatesTryLock :one
-- Take the aggregates' applier lock (as AggregatesLock) if it is free.
SELECT pg_try_advisory_lock(@class::integer, @id::integer) AS locked;
