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
    FROM repositories r
    CROSS JOIN LATERAL (SELECT rm.manifest_digest FROM repository_manifests rm
                        WHERE rm.repository_id = r.id AND rm.deleted_at IS NULL
                          AND (sqlc.narg(digests)::text[] IS NULL OR rm.manifest_digest = ANY (sqlc.narg(digests)))
                        OFFSET 0) rm
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    LEFT JOIN image_index_state s ON s.manifest_digest = m.digest
    WHERE r.name ~ sqlc.arg(repository)::text
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
      AND (NOT sqlc.arg(kept_state)::boolean OR s.unindexed > 0 OR s.rejected > 0)
)
SELECT count(DISTINCT ml.blob_digest) FILTER (WHERE li.blob_digest IS NULL AND lr.blob_digest IS NULL) AS unindexed,
    count(DISTINCT ml.blob_digest) FILTER (WHERE lr.blob_digest IS NOT NULL) AS rejected
FROM images i
-- Each selected image's layers by its key, as each selected repository's
-- images above: the planner, costing random reads high, hash-joined the
-- selection with every edge of the graph (a seq scan of manifest_layers:
-- 220 ms at 100k images, 3 s at 1M, for one namespace). OFFSET 0 keeps each
-- subquery a lookup by key, so the count reads what the selection holds.
CROSS JOIN LATERAL (SELECT ml.blob_digest FROM manifest_layers ml WHERE ml.manifest_digest = i.digest OFFSET 0) ml
LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
LEFT JOIN layer_rejections lr ON lr.blob_digest = ml.blob_digest;
