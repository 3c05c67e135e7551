-- name: ClearFailure :exec
-- A reference that has now been ingested no longer counts as failing.
DELETE FROM ingest_failures
WHERE registry = $1 AND repository = $2 AND reference = ANY($3::text[]);
