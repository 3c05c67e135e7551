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
-- when there are none), extended to the last comparison of the same tag
-- push: a push's platforms are compared in consecutive ids, and its alert
-- is made from all of them at once.
WITH p AS (
    SELECT max(id) AS upto FROM (SELECT id FROM cache_transitions WHERE id > sqlc.arg(after)::bigint ORDER BY id LIMIT sqlc.arg(n)::integer) x
)
SELECT coalesce((SELECT max(t2.id) FROM cache_transitions t1
                 JOIN cache_transitions t2 ON t2.tag_event_id = t1.tag_event_id AND t2.stream_kind = 'tag'
                 WHERE t1.id = p.upto AND t1.stream_kind = 'tag'),
                p.upto, sqlc.arg(after)::bigint)::bigint AS upto
FROM p;

-- name: AlertCursorPeek :one
-- Whether comparisons were made past the cursor (read without a lock:
-- the detector then looks again under it).
SELECT EXISTS (SELECT 1 FROM cache_transitions WHERE id > (SELECT transition_id FROM alert_cursor)) AS ahead;
