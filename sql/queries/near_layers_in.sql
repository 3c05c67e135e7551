-- name: NearLayersIn :many
-- duplicates --kind layer at min_similarity >= 0.8 with --repo: as
-- NearLayers, both layers in live images of repositories matching
-- repository (a regexp).
WITH matching AS (
    SELECT DISTINCT ll.blob_digest FROM live_layers ll WHERE ll.repository ~ @repository::text AND ll.diff_id IS NOT NULL
)
SELECT p.layer_a, p.layer_b, p.shared_bytes, p.shared_files, p.similarity
FROM layer_pairs p
WHERE p.similarity >= @min_similarity::float8
    AND p.layer_a IN (SELECT blob_digest FROM matching)
    AND p.layer_b IN (SELECT blob_digest FROM matching)
ORDER BY p.shared_bytes DESC, p.similarity DESC, p.layer_a, p.layer_b
LIMIT @page_limit::bigint;
