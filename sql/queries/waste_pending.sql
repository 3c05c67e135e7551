-- name: WastePending :many
-- Live image manifests with no image_waste row yet whose layers are all
-- indexed (none rejected): the next ones whose waste can be worked out.
-- limit: how many.
SELECT m.digest
FROM manifests m
WHERE m.kind = 'image' AND m.layer_count > 0
  AND NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = m.digest)
  AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = m.digest AND rm.deleted_at IS NULL)
  AND NOT EXISTS (SELECT 1 FROM manifest_layers ml
                  LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
                  WHERE ml.manifest_digest = m.digest AND li.blob_digest IS NULL)
ORDER BY m.digest
LIMIT sqlc.arg('limit')::bigint;
