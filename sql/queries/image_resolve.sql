-- name: ImageResolve :many
-- Find the manifest a reference names. repository: as "name" or
-- "registry/name"; tag: empty when digest is set; digest: whole or short
-- ("sha256:" and its first hex digits; empty when tag is set). Only live
-- tags and live memberships count.
SELECT r.registry, r.name AS repository, rm.manifest_digest, coalesce(tg.name, '') AS tag
FROM repositories r
JOIN repository_manifests rm ON rm.repository_id = r.id AND rm.deleted_at IS NULL
LEFT JOIN tags tg ON tg.repository_id = r.id AND tg.manifest_digest = rm.manifest_digest
    AND tg.deleted_at IS NULL AND tg.name = sqlc.arg(tag)
WHERE (r.name = sqlc.arg(repository) OR r.registry || '/' || r.name = sqlc.arg(repository))
  AND ((sqlc.arg(digest)::text <> '' AND starts_with(rm.manifest_digest, sqlc.arg(digest)))
       OR (sqlc.arg(tag) <> '' AND tg.name IS NOT NULL))
ORDER BY r.registry, r.name, rm.manifest_digest;
