-- name: BloatBacklog :one
-- What keeps the bloat report from judging the images bloat_images.sql
-- selects (the same $1-$3): the distinct layer blobs of theirs that the
-- file index does not hold yet, and those it rejected.
WITH images AS (
    SELECT DISTINCT m.digest
    FROM repository_manifests rm
    JOIN repositories r ON r.id = rm.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    WHERE rm.deleted_at IS NULL AND r.name ~ $1
      AND ($2::text[] IS NULL OR m.digest = ANY ($2)) AND ($3 = '' OR r.registry = $3)
)
SELECT count(DISTINCT ml.blob_digest) FILTER (WHERE li.blob_digest IS NULL AND lr.blob_digest IS NULL),
    count(DISTINCT ml.blob_digest) FILTER (WHERE lr.blob_digest IS NOT NULL)
FROM images i
JOIN manifest_layers ml ON ml.manifest_digest = i.digest
LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
LEFT JOIN layer_rejections lr ON lr.blob_digest = ml.blob_digest;
