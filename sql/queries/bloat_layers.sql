-- The layers of image manifests $1, bottom first, with what the file index
-- knows of each: its uncompressed size when indexed, whether it was
-- rejected, and whether the stack up to it (its chain) is the whole of a
-- live image in another repository than $2[i] (the image's own): the top
-- of a base image.
SELECT ml.manifest_digest, t.repository_id, ml.position, ml.blob_digest, ml.media_type, b.size,
    coalesce(ml.created_by, ''), li.uncompressed_size,
    EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = ml.blob_digest) AS rejected,
    EXISTS (SELECT 1 FROM manifest_layers o
            JOIN manifests om ON om.digest = o.manifest_digest AND om.layer_count = ml.position + 1
            JOIN repository_manifests orm ON orm.manifest_digest = o.manifest_digest AND orm.deleted_at IS NULL
            WHERE o.blob_digest = ml.blob_digest AND o.chain_id = ml.chain_id
              AND o.manifest_digest <> ml.manifest_digest AND orm.repository_id <> t.repository_id) AS base_top
FROM unnest($1::text[], $2::bigint[]) AS t(manifest_digest, repository_id)
JOIN manifest_layers ml ON ml.manifest_digest = t.manifest_digest
JOIN blobs b ON b.digest = ml.blob_digest
LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
ORDER BY t.manifest_digest, t.repository_id, ml.position
