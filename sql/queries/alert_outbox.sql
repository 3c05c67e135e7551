-- name: AlertInsert :many
-- An alert, unless one with its key was made before (then nothing).
INSERT INTO alerts (key, kind, payload)
VALUES (sqlc.arg(key)::text, sqlc.arg(kind)::text, sqlc.arg(payload)::jsonb)
ON CONFLICT (key) DO NOTHING
RETURNING id;

-- name: AlertDeliveriesInsert :exec
-- The sends an alert waits for, one per sink.
INSERT INTO alert_deliveries (alert_id, sink)
SELECT sqlc.arg(alert_id)::bigint, s FROM unnest(sqlc.arg(sinks)::text[]) AS s
ON CONFLICT DO NOTHING;

-- name: AlertClaim :many
-- Up to n sends to sink that are due, oldest first, claimed for lease
-- seconds (next_at moves past it: another sender takes them only if this
-- one has not recorded them by then).
UPDATE alert_deliveries d
SET next_at = now() + make_interval(secs => sqlc.arg(lease)::float8)
FROM (
    SELECT x.alert_id, x.sink FROM alert_deliveries x
    WHERE x.sink = sqlc.arg(sink)::text AND x.delivered_at IS NULL AND x.failed_at IS NULL AND x.next_at <= now()
    ORDER BY x.next_at, x.alert_id
    LIMIT sqlc.arg(n)::integer
    FOR UPDATE SKIP LOCKED
) due, alerts a
WHERE d.alert_id = due.alert_id AND d.sink = due.sink AND a.id = d.alert_id
RETURNING d.alert_id, d.sink, d.attempts, a.key, a.kind, a.payload, a.created_at;

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
