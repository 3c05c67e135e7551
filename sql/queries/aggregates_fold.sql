-- name: AggregatesFold :one
-- Fold every queued change into the aggregates; how many queue rows it
-- took in. Run in a REPEATABLE READ transaction, holding AggregatesLock.
SELECT layerq_apply_pending() AS applied;
