-- name: DuplicatesBlobKept :many
-- DuplicatesBlob over every repository, read from the kept per-content
-- figures (content_usage): the layer contents live images use under more
-- than one blob, most bytes stored again first (an index), each with its
-- live encodings, smallest first. limit: how many layers.
SELECT c.content AS diff_id, c.stored_bytes, c.extra_bytes AS bytes_stored_twice,
    e.digests, e.sizes, e.media_types
FROM (
    SELECT content, stored_bytes, extra_bytes FROM content_usage
    WHERE encodings > 1
    ORDER BY extra_bytes DESC, content
    LIMIT sqlc.arg('limit')::bigint
) c
CROSS JOIN LATERAL (
    SELECT array_agg(b.digest ORDER BY b.size, b.digest)::text[] AS digests,
        array_agg(b.size ORDER BY b.size, b.digest)::bigint[] AS sizes,
        array_agg(b.media_type ORDER BY b.size, b.digest)::text[] AS media_types
    FROM blobs b
    JOIN blob_usage u ON u.digest = b.digest AND u.manifests > 0
    WHERE b.diff_id = c.content
) e
ORDER BY c.extra_bytes DESC, c.content;
