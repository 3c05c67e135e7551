-- name: ImageLayers :many
-- The layers of image digest, bottom first, with how many other live images
-- hold each layer's content (content_usage counts per diff_id, any
-- encoding).
SELECT ml.position, ml.blob_digest, b.size, ml.media_type, coalesce(b.diff_id, '') AS diff_id,
    coalesce(ml.chain_id, '') AS chain_id, coalesce(ml.created_by, '') AS created_by, ml.created,
    greatest(coalesce(cu.images, 0)
        - CASE WHEN EXISTS (SELECT 1 FROM manifest_refs mr JOIN manifests m ON m.digest = mr.manifest_digest AND m.kind = 'image'
                            WHERE mr.manifest_digest = ml.manifest_digest AND mr.repositories > 0) THEN 1 ELSE 0 END, 0)::bigint AS other_images
FROM manifest_layers ml
JOIN blobs b ON b.digest = ml.blob_digest
LEFT JOIN content_usage cu ON cu.content = layerq_content(b.diff_id, b.digest)
WHERE ml.manifest_digest = sqlc.arg(digest)
ORDER BY ml.position;
