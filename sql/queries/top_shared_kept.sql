-- Top-shared over the whole graph, from the kept per-blob counts
-- (shared_layers); the same figures as top_shared with a match-all glob.
-- $1: limit.
SELECT s.digest, s.diff_id, s.size, s.manifests::bigint, s.repositories::bigint, s.bytes_saved,
    coalesce((SELECT ml.created_by FROM manifest_layers ml
              WHERE ml.blob_digest = s.digest AND ml.created_by IS NOT NULL
              ORDER BY ml.manifest_digest, ml.position LIMIT 1), '') AS created_by,
    ARRAY(SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
          WHERE rb.digest = s.digest AND rb.refs > 0 AND rb.image_refs > 0
          GROUP BY r.name ORDER BY r.name LIMIT 5) AS sample_repositories
FROM shared_layers s
ORDER BY s.manifests DESC, s.repositories DESC, s.size DESC, s.digest
LIMIT $1
