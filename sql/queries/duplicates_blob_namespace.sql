-- name: DuplicatesBlobNamespace :many
-- DuplicatesBlob for a selection that is one namespace's repositories
-- (selection_namespace.sql), read from what the fold keeps per namespace
-- (namespace_duplicate_blobs): the layer contents the namespace holds
-- under more than one live blob, most bytes stored again first (a page of
-- an index), each with the namespace's live encodings of it, smallest
-- first, and the totals over them all. limit: how many layers.
WITH top AS MATERIALIZED (
    SELECT d.content, d.stored_bytes, d.extra_bytes FROM namespace_duplicate_blobs d
    WHERE d.registry = sqlc.arg(registry)::text AND d.namespace = sqlc.arg(namespace)::text
    ORDER BY d.extra_bytes DESC, d.content
    LIMIT sqlc.arg('limit')::bigint
)
SELECT t.content AS diff_id, t.stored_bytes, t.extra_bytes AS bytes_stored_twice,
    e.digests, e.sizes, e.media_types,
    (SELECT count(*) FROM namespace_duplicate_blobs d
     WHERE d.registry = sqlc.arg(registry)::text AND d.namespace = sqlc.arg(namespace)::text)::bigint AS total_layers,
    (SELECT coalesce(sum(d.extra_bytes), 0) FROM namespace_duplicate_blobs d
     WHERE d.registry = sqlc.arg(registry)::text AND d.namespace = sqlc.arg(namespace)::text)::bigint AS total_bytes_stored_twice
FROM top t
CROSS JOIN LATERAL (
    SELECT array_agg(b.digest ORDER BY b.size, b.digest)::text[] AS digests,
        array_agg(b.size ORDER BY b.size, b.digest)::bigint[] AS sizes,
        array_agg(b.media_type ORDER BY b.size, b.digest)::text[] AS media_types
    FROM blobs b
    JOIN namespace_blobs nb ON nb.registry = sqlc.arg(registry)::text AND nb.namespace = sqlc.arg(namespace)::text
        AND nb.digest = b.digest AND nb.refs > 0
    WHERE b.diff_id = t.content
) e
ORDER BY t.extra_bytes DESC, t.content;
