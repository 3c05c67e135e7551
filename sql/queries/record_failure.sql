-- name: RecordFailure :exec
-- A reference that could not be ingested (payload: the event that caused
-- it, JSON, or NULL). The same failure seen again bumps attempts instead of
-- adding a row, keeping the earlier payload when this one is NULL.
INSERT INTO ingest_failures AS f (registry, repository, reference, source, class, reason, payload)
VALUES (@registry, @repository, @reference, @source, @class, @reason, sqlc.narg(payload)::jsonb)
ON CONFLICT (registry, repository, reference, source) DO UPDATE
SET attempts = f.attempts + 1, class = excluded.class, reason = excluded.reason,
    payload = coalesce(excluded.payload, f.payload), occurred_at = now();
