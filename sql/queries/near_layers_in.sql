-- name: NearLayersIn :many
-- duplicates --kind layer at min_similarity >= 0.8 with --repo: as
-- NearLayers, both layers in live images of repositories matching
-- repository (a regexp). The selected repositories' blobs are read from
-- what the fold keeps per repository (repository_blobs), as
-- duplicates_blob.sql does (a config matches no kept pair, unless its
-- digest is an indexed layer elsewhere: duplicates_blob.sql), and whether
-- a side is an image's layer (a diff_id) is asked of the pairs that
-- match, not of every blob.
WITH matching AS MATERIALIZED (
    SELECT DISTINCT rb.digest AS blob_digest
    FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.refs > 0
    WHERE r.name ~ @repository::text
),
pairs AS MATERIALIZED (
    SELECT p.layer_a, p.layer_b, p.shared_bytes, p.shared_files, p.similarity
    FROM layer_pairs p
    WHERE p.similarity >= @min_similarity::float8
        AND p.layer_a IN (SELECT blob_digest FROM matching)
        AND p.layer_b IN (SELECT blob_digest FROM matching)
)
SELECT p.layer_a, p.layer_b, p.shared_bytes, p.shared_files, p.similarity
FROM pairs p
WHERE EXISTS (SELECT FROM blobs b WHERE b.digest = p.layer_a AND b.diff_id IS NOT NULL)
    AND EXISTS (SELECT FROM blobs b WHERE b.digest = p.layer_b AND b.diff_id IS NOT NULL)
ORDER BY p.shared_bytes DESC, p.similarity DESC, p.layer_a, p.layer_b
LIMIT @page_limit::bigint;
