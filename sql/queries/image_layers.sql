-- An image's layers, bottom first, with how many other live image manifests
-- share each layer blob.
SELECT ml.position, ml.blob_digest, b.size, ml.media_type, coalesce(b.diff_id, ''),
    coalesce(ml.chain_id, ''), coalesce(ml.created_by, ''), ml.created,
    (SELECT count(DISTINCT o.manifest_digest)
     FROM manifest_layers o
     JOIN repository_manifests rm ON rm.manifest_digest = o.manifest_digest AND rm.deleted_at IS NULL
     JOIN manifests m ON m.digest = o.manifest_digest AND m.kind = 'image'
     WHERE o.blob_digest = ml.blob_digest AND o.manifest_digest <> ml.manifest_digest) AS shared_with
FROM manifest_layers ml
JOIN blobs b ON b.digest = ml.blob_digest
WHERE ml.manifest_digest = $1
ORDER BY ml.position
