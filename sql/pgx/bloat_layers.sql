-- The layers of image manifests $1 (read for repositories $2, echoed), bottom
-- first, with what the file index knows of each: its uncompressed size when
-- indexed, and why it was rejected when it cannot be indexed.
SELECT ml.manifest_digest, t.repository_id, ml.position, ml.blob_digest, ml.media_type, b.size,
    coalesce(ml.created_by, ''), li.uncompressed_size, coalesce(lr.class, ''), coalesce(lr.reason, '')
FROM unnest($1::text[], $2::bigint[]) AS t(manifest_digest, repository_id)
JOIN manifest_layers ml ON ml.manifest_digest = t.manifest_digest
JOIN blobs b ON b.digest = ml.blob_digest
LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
LEFT JOIN layer_rejections lr ON lr.blob_digest = ml.blob_digest
ORDER BY t.manifest_digest, t.repository_id, ml.position;
