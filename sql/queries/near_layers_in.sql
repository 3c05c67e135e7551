-- name: NearLayersIn :many
-- duplicates --kind layer with --repo: every indexed layer (with a diff_id)
-- of a live image in a repository matching repository (a regexp), in the
-- report's walk order, the largest first.
SELECT k.blob_digest, k.file_bytes
FROM layer_file_keys k
WHERE k.file_bytes > 0 AND k.blob_digest IN (
    SELECT ml.blob_digest
    FROM repositories r
    JOIN repository_manifests rm ON rm.repository_id = r.id AND rm.deleted_at IS NULL
    JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
    JOIN blobs b ON b.digest = ml.blob_digest AND b.diff_id IS NOT NULL
    WHERE r.name ~ @repository::text)
ORDER BY k.file_bytes DESC, k.blob_digest DESC;
