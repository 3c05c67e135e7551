-- name: BloatRejected :many
-- The layers of image manifests digests that the file index refused, and
-- why, by manifest and position.
SELECT ml.manifest_digest, ml.position, ml.blob_digest, lr.class, lr.reason
FROM manifest_layers ml
JOIN layer_rejections lr ON lr.blob_digest = ml.blob_digest
WHERE ml.manifest_digest = ANY (sqlc.arg(digests)::text[])
ORDER BY 1, 2;
