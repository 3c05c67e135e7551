-- name: WastePending :many
-- Image manifests the fold found ready for the waste analysis (every
-- layer indexed, none refused: waste_pending, and still so) and not
-- analyzed yet, live in a repository matching repository (a regexp) of
-- registry (empty: any); digests: only these (NULL: all). limit: how many.
SELECT p.manifest_digest
FROM waste_pending p
JOIN image_index_state s ON s.manifest_digest = p.manifest_digest AND s.unindexed = 0 AND s.rejected = 0
WHERE NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = p.manifest_digest)
  AND EXISTS (SELECT 1 FROM repository_manifests rm
              JOIN repositories r ON r.id = rm.repository_id
              WHERE rm.manifest_digest = p.manifest_digest AND rm.deleted_at IS NULL
                AND r.name ~ sqlc.arg(repository)::text
                AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry)))
  AND (sqlc.narg(digests)::text[] IS NULL OR p.manifest_digest = ANY (sqlc.narg(digests)))
ORDER BY 1
LIMIT sqlc.arg('limit')::bigint;
