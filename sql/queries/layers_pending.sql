-- name: LayersPending :many
-- Layer blobs of live image manifests that are neither indexed nor
-- rejected, each once, with one repository to fetch it from: those of
-- registry whose repository name matches repository_regexp (repoglob).
-- Foreign and non-distributable layers live outside the registry and are left out.
-- diff_id is never NULL here.
SELECT DISTINCT ON (b.digest) b.digest, b.diff_id, b.size, r.name AS repository
FROM blobs b
JOIN manifest_layers ml ON ml.blob_digest = b.digest
JOIN repository_manifests rm ON rm.manifest_digest = ml.manifest_digest AND rm.deleted_at IS NULL
JOIN repositories r ON r.id = rm.repository_id
WHERE b.diff_id IS NOT NULL
  AND r.registry = @registry AND r.name ~ @repository_regexp
  AND ml.media_type NOT LIKE '%foreign%' AND ml.media_type NOT LIKE '%nondistributable%'
  AND NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = b.digest)
  AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = b.digest)
ORDER BY b.digest, r.name;
