-- name: AlertCursorInit :exec
-- Alerts start with the comparisons the fold makes from now on: the
-- cursor, when first made, is past every comparison kept.
INSERT INTO alert_cursor (transition_id)
SELECT coalesce(max(id), 0) FROM cache_transitions
ON CONFLICT DO NOTHING;

-- name: AlertCursorLock :one
-- The last comparison looked at, locked until the transaction that looks
-- at the next ones ends (one detector at a time).
SELECT transition_id FROM alert_cursor FOR UPDATE;

-- name: AlertCursorSet :exec
UPDATE alert_cursor SET transition_id = sqlc.arg(transition_id)::bigint;

-- name: AlertTransitionsUpTo :one
-- The id of the last of the next n comparisons after after (after itself
-- when there are none).
SELECT coalesce(max(id), sqlc.arg(after)::bigint)::bigint AS upto
FROM (SELECT id FROM cache_transitions WHERE id > sqlc.arg(after)::bigint ORDER BY id LIMIT sqlc.arg(n)::integer) x;

-- name: AlertCursorPeek :one
-- Whether comparisons were made past the cursor (read without a lock:
-- the detector then looks again under it).
SELECT EXISTS (SELECT 1 FROM cache_transitions WHERE id > (SELECT transition_id FROM alert_cursor)) AS ahead;
