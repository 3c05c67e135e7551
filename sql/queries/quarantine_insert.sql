-- name: QuarantineInsert :exec
-- Keep a quarantined item (header: JSON, or NULL); the same item again
-- counts another delivery.
INSERT INTO quarantine AS q (id, source, registry, reason, detail, kind, data, header, received_at)
VALUES (@id, @source, @registry, @reason, @detail, @kind, @data, sqlc.narg(header)::jsonb, @received_at)
ON CONFLICT (id) DO UPDATE SET seen = q.seen + 1;
