-- name: NearLayersNamespace :many
-- NearLayersIn for a selection that is one namespace's repositories
-- (selection_namespace.sql): both layers of a kept pair among the blobs
-- the fold keeps per namespace (namespace_blobs), instead of the
-- distinct blobs of each of its repositories (112,662 of them read from
-- 200 repositories' rows at 1,000,000 images); each side asked of the
-- index as the pairs are read, whether a side is an image's layer (a
-- diff_id) asked of the pairs that match.
SELECT p.layer_a, p.layer_b, p.shared_bytes, p.shared_files, p.similarity
FROM layer_pairs p
WHERE p.similarity >= sqlc.arg(min_similarity)::float8
    AND EXISTS (SELECT FROM namespace_blobs nb WHERE nb.registry = sqlc.arg(registry)::text AND nb.namespace = sqlc.arg(namespace)::text
                AND nb.digest = p.layer_a AND nb.refs > 0)
    AND EXISTS (SELECT FROM namespace_blobs nb WHERE nb.registry = sqlc.arg(registry)::text AND nb.namespace = sqlc.arg(namespace)::text
                AND nb.digest = p.layer_b AND nb.refs > 0)
    AND EXISTS (SELECT FROM blobs b WHERE b.digest = p.layer_a AND b.diff_id IS NOT NULL)
    AND EXISTS (SELECT FROM blobs b WHERE b.digest = p.layer_b AND b.diff_id IS NOT NULL)
ORDER BY p.shared_bytes DESC, p.similarity DESC, p.layer_a, p.layer_b
LIMIT sqlc.arg(page_limit)::bigint;
