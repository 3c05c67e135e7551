-- name: ManifestsLayers :many
-- The layers of image manifests digests, each manifest's bottom first, with
-- the image's base (image_bases; '' and 0 when none is known).
SELECT ml.manifest_digest, ml.position, ml.blob_digest, b.size, coalesce(b.diff_id, '') AS diff_id,
    coalesce(ml.chain_id, '') AS chain_id, coalesce(ml.created_by, '') AS created_by,
    coalesce(ib.base_digest, '')::text AS base_digest, coalesce(ib.base_layers, 0)::integer AS base_layers
FROM manifest_layers ml
JOIN blobs b ON b.digest = ml.blob_digest
LEFT JOIN image_bases ib ON ib.manifest_digest = ml.manifest_digest
WHERE ml.manifest_digest = ANY (sqlc.arg(digests)::text[])
ORDER BY ml.manifest_digest, ml.position;
