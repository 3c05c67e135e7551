-- name: AlertInsert :many
-- An alert, unless one with its key was made before (then nothing).
INSERT INTO alerts (key, kind, payload)
VALUES (sqlc.arg(key)::text, sqlc.arg(kind)::text, sqlc.arg(payload)::jsonb)
ON CONFLICT (key) DO NOTHING
RETURNING id;

-- name: AlertDeliveriesInsert :exec
-- The sends an alert waits for, one per sink.
INSERT INTO alert_deliveries (alert_id, sink)
SELECT sqlc.arg(alert_id)::bigint, s FROM unnest(sqlc.arg(sinks)::text[]) AS s;

-- name: AlertDue :many
-- Sends due, oldest first, locked for the transaction that makes them
-- (others skip them).
SELECT d.alert_id, d.sink, d.attempts, a.key, a.kind, a.payload, a.created_at
FROM alert_deliveries d
JOIN alerts a ON a.id = d.alert_id
WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_at <= now()
ORDER BY d.next_at, d.alert_id
LIMIT sqlc.arg(n)::integer
FOR UPDATE OF d SKIP LOCKED;

-- name: AlertSent :exec
-- A send's outcome: delivered, to be tried again at next_at, or (failed)
-- given up.
UPDATE alert_deliveries
SET attempts = attempts + 1,
    delivered_at = CASE WHEN sqlc.arg(delivered)::boolean THEN now() END,
    failed_at = CASE WHEN sqlc.arg(failed)::boolean THEN now() END,
    next_at = sqlc.arg(next_at)::timestamptz,
    last_error = sqlc.narg(last_error)::text
WHERE alert_id = sqlc.arg(alert_id)::bigint AND sink = sqlc.arg(sink)::text;

-- name: AlertPrune :execrows
-- Alerts made before before whose sends are all made or given up.
DELETE FROM alerts a
WHERE a.created_at < sqlc.arg(before)::timestamptz
  AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.delivered_at IS NULL AND d.failed_at IS NULL);
