-- name: NearLayers :many
-- duplicates --kind layer at min_similarity >= 0.8 over every repository:
-- the pairs of live layers (with a diff_id) at least that similar that
-- share the most, from the kept pairs (layer_pairs,
-- sql/functions/layer_keys.sql), in the order of their index.
SELECT p.layer_a, p.layer_b, p.shared_bytes, p.shared_files, p.similarity
FROM layer_pairs p
WHERE p.similarity >= @min_similarity::float8
    AND EXISTS (SELECT FROM live_layer_blobs l JOIN blobs b ON b.digest = l.blob_digest AND b.diff_id IS NOT NULL WHERE l.blob_digest = p.layer_a)
    AND EXISTS (SELECT FROM live_layer_blobs l JOIN blobs b ON b.digest = l.blob_digest AND b.diff_id IS NOT NULL WHERE l.blob_digest = p.layer_b)
ORDER BY p.shared_bytes DESC, p.similarity DESC, p.layer_a, p.layer_b
LIMIT @page_limit::bigint;
