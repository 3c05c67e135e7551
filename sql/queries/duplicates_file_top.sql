-- name: DuplicatesFileTop :many
-- With duplicates_file.sql, for a filter of many files: the file
-- contents stored most often over the indexed layer blobs blobs, by the
-- bytes the extra copies take: the content's digest (hex), its size, its
-- copies, the layers holding them, the extra copies' bytes and the least
-- of its paths (in byte order). limit: how many contents. Each layer's
-- files are read by its key, as in duplicates_file.sql.
SELECT encode(lf.digest, 'hex') AS digest, min(lf.size)::bigint AS size, count(*) AS copies, count(DISTINCT lf.blob_digest) AS layers,
    (min(lf.size) * (count(*) - 1))::bigint AS extra_bytes, min(lf.path COLLATE "C")::text AS sample_path
FROM unnest(sqlc.arg(blobs)::text[]) AS l(blob_digest)
CROSS JOIN LATERAL (
    SELECT x.blob_digest, x.digest, x.size, x.path FROM layer_files x
    WHERE x.blob_digest = l.blob_digest AND x.type = 1 AND x.size > 0 AND x.digest IS NOT NULL
    OFFSET 0
) lf
GROUP BY lf.digest
HAVING count(*) > 1
ORDER BY extra_bytes DESC, 1
LIMIT sqlc.arg('limit')::bigint;
