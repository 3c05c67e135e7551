-- name: RepositoryState :many
-- What the graph holds for one repository: live tags and their digests, and
-- every live manifest digest (tag is NULL for manifests held untagged).
SELECT tg.name, tg.manifest_digest
FROM tags tg JOIN repositories r ON r.id = tg.repository_id
WHERE r.registry = $1 AND r.name = $2 AND tg.deleted_at IS NULL
UNION ALL
SELECT NULL, rm.manifest_digest
FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
WHERE r.registry = $1 AND r.name = $2 AND rm.deleted_at IS NULL;
