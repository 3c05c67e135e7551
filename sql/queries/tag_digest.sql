-- name: TagDigest :one
-- The manifest a tag names, or last named before it was deleted.
SELECT tg.manifest_digest AS digest
FROM tags tg JOIN repositories r ON r.id = tg.repository_id
WHERE r.registry = @registry AND r.name = @repository AND tg.name = @tag;
