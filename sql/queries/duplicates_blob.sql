-- name: DuplicatesBlob :many
-- Layers (by diff_id) that live image manifests in repositories matching
-- repository (a regexp) use under more than one blob digest: the same tar
-- compressed differently (gzip and zstd, other levels or compressors),
-- stored once per encoding. bytes_stored_twice keeps the smallest encoding.
-- limit: how many layers; total_layers and total_bytes_stored_twice count
-- them all.
--
-- The selected repositories' blobs are read from what the fold keeps per
-- repository (repository_blobs: the blobs of its live manifests, layers
-- and configs), one index range each, and each blob's content by its key:
-- for a namespace of 20 repositories at 100,000 images, 11,000 rows
-- instead of its 1,900 manifests' layer lists joined to every blob. A
-- blob is a layer when a config names it (a diff_id), wherever: a blob
-- only a config here but a layer elsewhere counts as a layer here, which
-- only a digest used both ways (the empty JSON `{}` can be) makes differ
-- from the manifests' layer lists.
WITH live_blobs AS MATERIALIZED (
    SELECT DISTINCT rb.digest AS blob_digest
    FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.refs > 0
    WHERE r.name ~ sqlc.arg(repository)::text
)
SELECT b.diff_id,
    sum(b.size)::bigint AS stored_bytes,
    (sum(b.size) - min(b.size))::bigint AS bytes_stored_twice,
    array_agg(b.digest ORDER BY b.size, b.digest)::text[] AS digests,
    array_agg(b.size ORDER BY b.size, b.digest)::bigint[] AS sizes,
    array_agg(b.media_type ORDER BY b.size, b.digest)::text[] AS media_types,
    count(*) OVER ()::bigint AS total_layers,
    (sum(sum(b.size) - min(b.size)) OVER ())::bigint AS total_bytes_stored_twice
FROM live_blobs lb
-- By key, not joined: the planner hashed all 488,000 blobs for 11,000.
CROSS JOIN LATERAL (
    SELECT x.digest, x.diff_id, x.size, x.media_type FROM blobs x
    WHERE x.digest = lb.blob_digest AND x.diff_id IS NOT NULL OFFSET 0
) b
GROUP BY b.diff_id
HAVING count(*) > 1
ORDER BY bytes_stored_twice DESC, b.diff_id
LIMIT sqlc.arg('limit')::bigint;
