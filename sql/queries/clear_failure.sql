-- name: ClearFailure :exec
-- References (refs) of a repository that have now been ingested no longer
-- count as failing.
DELETE FROM ingest_failures
WHERE registry = @registry AND repository = @repository AND reference = ANY(@refs::text[]);
