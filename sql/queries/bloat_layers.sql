-- The layers of image manifests $1, bottom first, with what the file index
-- knows of each: its uncompressed size when indexed, whether it was
-- rejected, and whether its chain (the stack up to it) is also the bottom
-- of a live manifest in another repository than $2[i] (the image's own),
-- which makes it part of a base image.
SELECT ml.manifest_digest, t.repository_id, ml.position, ml.blob_digest, ml.media_type, b.size,
    coalesce(ml.created_by, ''), li.uncompressed_size,
    EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = ml.blob_digest) AS rejected,
    EXISTS (SELECT 1 FROM manifest_layers o
            JOIN repository_manifests orm ON orm.manifest_digest = o.manifest_digest AND orm.deleted_at IS NULL
            JOIN repositories orp ON orp.id = orm.repository_id
            WHERE o.blob_digest = ml.blob_digest AND o.chain_id = ml.chain_id
              AND o.manifest_digest <> ml.manifest_digest AND orp.id <> t.repository_id) AS in_base
FROM unnest($1::text[], $2::bigint[]) AS t(manifest_digest, repository_id)
JOIN manifest_layers ml ON ml.manifest_digest = t.manifest_digest
JOIN blobs b ON b.digest = ml.blob_digest
LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
ORDER BY t.manifest_digest, t.repository_id, ml.position
