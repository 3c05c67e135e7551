-- name: QuarantineInsert :exec
-- Keep a quarantined item; the same item again counts another delivery.
INSERT INTO quarantine AS q (id, source, registry, reason, detail, kind, data, header, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
ON CONFLICT (id) DO UPDATE SET seen = q.seen + 1;
