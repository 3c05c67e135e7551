-- name: BloatBacklog :one
-- What keeps the bloat report from judging the images bloat_totals.sql
-- selects (the same repository, digests and registry): the distinct layer
-- blobs of theirs that the file index does not hold yet, and those it
-- rejected. kept_state: read only the images the fold marked as having
-- such a layer (image_index_state; for a report, which folds first), not
-- every selected image's layers (for --wait, which polls without folding:
-- an image pushed since the last fold has no state yet).
WITH images AS (
    SELECT DISTINCT m.digest
    FROM repository_manifests rm
    JOIN repositories r ON r.id = rm.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    LEFT JOIN image_index_state s ON s.manifest_digest = m.digest
    WHERE rm.deleted_at IS NULL AND r.name ~ sqlc.arg(repository)::text
      AND (sqlc.narg(digests)::text[] IS NULL OR m.digest = ANY (sqlc.narg(digests)))
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
      AND (NOT sqlc.arg(kept_state)::boolean OR s.unindexed > 0 OR s.rejected > 0)
)
SELECT count(DISTINCT ml.blob_digest) FILTER (WHERE li.blob_digest IS NULL AND lr.blob_digest IS NULL) AS unindexed,
    count(DISTINCT ml.blob_digest) FILTER (WHERE lr.blob_digest IS NOT NULL) AS rejected
FROM images i
JOIN manifest_layers ml ON ml.manifest_digest = i.digest
LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
LEFT JOIN layer_rejections lr ON lr.blob_digest = ml.blob_digest;
