-- Layers ranked by how many live image manifests use them.
-- $1: repository regexp (repoglob), $2: limit.
WITH live AS (
    SELECT DISTINCT rm.manifest_digest, r.id AS repository_id, r.name AS repository
    FROM repository_manifests rm
    JOIN repositories r ON r.id = rm.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    WHERE rm.deleted_at IS NULL AND r.name ~ $1
),
uses AS (
    SELECT ml.blob_digest, l.manifest_digest, l.repository_id, l.repository
    FROM manifest_layers ml
    JOIN live l ON l.manifest_digest = ml.manifest_digest
),
ranked AS (
    SELECT u.blob_digest,
        count(DISTINCT u.manifest_digest) AS manifests,
        count(DISTINCT u.repository_id) AS repositories,
        array_agg(DISTINCT u.repository ORDER BY u.repository) AS repos
    FROM uses u
    GROUP BY u.blob_digest
)
SELECT b.digest, coalesce(b.diff_id, ''), b.size, r.manifests, r.repositories,
    b.size * (r.manifests - 1) AS bytes_saved,
    coalesce((SELECT ml.created_by FROM manifest_layers ml
              WHERE ml.blob_digest = b.digest AND ml.created_by IS NOT NULL
              ORDER BY ml.manifest_digest, ml.position LIMIT 1), '') AS created_by,
    r.repos[1:5] AS sample_repositories
FROM ranked r
JOIN blobs b ON b.digest = r.blob_digest
ORDER BY r.manifests DESC, r.repositories DESC, b.size DESC, b.digest
LIMIT $2
