-- name: DuplicatesBlob :many
-- Layers (by diff_id) that live image manifests in repositories matching
-- repository (a regexp) use under more than one blob digest: the same tar
-- compressed differently (gzip and zstd, other levels or compressors),
-- stored once per encoding. bytes_stored_twice keeps the smallest encoding.
-- limit: how many layers; total_layers and total_bytes_stored_twice count
-- them all.
WITH live_blobs AS (
    SELECT DISTINCT blob_digest FROM live_layers WHERE repository ~ sqlc.arg(repository)::text
)
SELECT b.diff_id,
    sum(b.size)::bigint AS stored_bytes,
    (sum(b.size) - min(b.size))::bigint AS bytes_stored_twice,
    array_agg(b.digest ORDER BY b.size, b.digest)::text[] AS digests,
    array_agg(b.size ORDER BY b.size, b.digest)::bigint[] AS sizes,
    array_agg(b.media_type ORDER BY b.size, b.digest)::text[] AS media_types,
    count(*) OVER ()::bigint AS total_layers,
    (sum(sum(b.size) - min(b.size)) OVER ())::bigint AS total_bytes_stored_twice
FROM blobs b
JOIN live_blobs lb ON lb.blob_digest = b.digest
WHERE b.diff_id IS NOT NULL
GROUP BY b.diff_id
HAVING count(*) > 1
ORDER BY bytes_stored_twice DESC, b.diff_id
LIMIT sqlc.arg('limit')::bigint;
