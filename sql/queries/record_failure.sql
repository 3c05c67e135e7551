-- A manifest that could not be ingested. The same failure seen again bumps
-- attempts instead of adding a row.
WITH updated AS (
    UPDATE ingest_failures
    SET attempts = attempts + 1, reason = $6, class = $5, payload = COALESCE($7::jsonb, payload), occurred_at = now()
    WHERE registry = $1 AND repository = $2 AND reference = $3 AND source = $4
    RETURNING id
)
INSERT INTO ingest_failures (registry, repository, reference, source, class, reason, payload)
SELECT $1, $2, $3, $4, $5, $6, $7::jsonb
WHERE NOT EXISTS (SELECT 1 FROM updated)
