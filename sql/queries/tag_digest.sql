-- name: TagDigest :one
-- The manifest a tag names, or last named before it was deleted.
SELECT tg.manifest_digest
FROM tags tg JOIN repositories r ON r.id = tg.repository_id
WHERE r.registry = $1 AND r.name = $2 AND tg.name = $3;
