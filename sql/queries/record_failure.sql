-- name: RecordFailure :exec
-- A reference that could not be ingested. The same failure seen again bumps
-- attempts instead of adding a row.
INSERT INTO ingest_failures AS f (registry, repository, reference, source, class, reason, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT (registry, repository, reference, source) DO UPDATE
SET attempts = f.attempts + 1, class = excluded.class, reason = excluded.reason,
    payload = coalesce(excluded.payload, f.payload), occurred_at = now();
