-- name: AggregatesMayFold :one
-- Whether this role may fold the aggregates (run layerq_apply_pending; a
-- read-only role such as layerq_reader may not), whether it may look at
-- the queue (AggregatesQueued) first, and whether the server is a standby
-- (in recovery: nothing may be written there).
SELECT has_function_privilege('layerq_apply_pending()', 'EXECUTE') AS may_fold,
    has_table_privilege('aggregate_queue', 'SELECT') AS may_peek,
    pg_is_in_recovery() AS standby;
