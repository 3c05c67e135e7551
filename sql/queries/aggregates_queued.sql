-- name: AggregatesQueued :one
-- Whether any change waits to be folded into the aggregates. A change an
-- applier is folding stays visible here until that applier commits.
SELECT EXISTS (SELECT 1 FROM aggregate_queue) AS queued;

-- name: AggregatesQueuedCount :one
-- How many changes wait to be folded into the aggregates.
SELECT count(*) AS queued FROM aggregate_queue;
