-- name: ImageResolve :many
-- Find the manifest a reference names. $1: repository, as "name" or
-- "registry/name"; $2: tag ("" when $3 is set); $3: digest, whole or short
-- ("sha256:" and its first hex digits; "" when $2 is set). Only live tags
-- and live memberships count.
SELECT r.registry, r.name, rm.manifest_digest, coalesce(tg.name, '')
FROM repositories r
JOIN repository_manifests rm ON rm.repository_id = r.id AND rm.deleted_at IS NULL
LEFT JOIN tags tg ON tg.repository_id = r.id AND tg.manifest_digest = rm.manifest_digest
    AND tg.deleted_at IS NULL AND tg.name = $2
WHERE (r.name = $1 OR r.registry || '/' || r.name = $1)
  AND (($3 <> '' AND starts_with(rm.manifest_digest, $3)) OR ($2 <> '' AND tg.name IS NOT NULL))
ORDER BY r.registry, r.name, rm.manifest_digest;
