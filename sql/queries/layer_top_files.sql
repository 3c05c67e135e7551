-- name: LayerTopFiles :many
-- The n largest regular files of each of the layer blobs blobs, from their
-- file indexes (none for a blob not indexed).
SELECT b.digest::text AS blob_digest, f.path, f.size
FROM unnest(sqlc.arg(blobs)::text[]) AS b(digest)
CROSS JOIN LATERAL (
    SELECT lf.path, lf.size FROM layer_files lf
    WHERE lf.blob_digest = b.digest AND lf.type = 1
    ORDER BY lf.size DESC, lf.path
    LIMIT sqlc.arg(n)::integer
) f
ORDER BY 1, 3 DESC, 2;
