-- name: RepositoryState :many
-- What the graph holds for one repository: every live manifest digest (tag
-- NULL), and live tags with their digests. The untagged half comes first so
-- that sqlc, which types a UNION by its first branch, sees tag as nullable.
SELECT NULL::text AS tag, rm.manifest_digest AS digest
FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
WHERE r.registry = @registry AND r.name = @repository AND rm.deleted_at IS NULL
UNION ALL
SELECT tg.name, tg.manifest_digest
FROM tags tg JOIN repositories r ON r.id = tg.repository_id
WHERE r.registry = @registry AND r.name = @repository AND tg.deleted_at IS NULL;
