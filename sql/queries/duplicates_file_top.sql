-- name: DuplicatesFileTop :many
-- The file contents stored most often over the distinct indexed layer
-- blobs of live images in repositories matching repository (a regexp), by
-- the bytes the extra copies take: the content's digest (hex), its size,
-- its copies, the layers holding them, the extra copies' bytes and one of
-- its paths. limit: how many contents.
WITH live AS (
    SELECT DISTINCT blob_digest FROM live_layers WHERE repository ~ sqlc.arg(repository)::text AND diff_id IS NOT NULL
)
SELECT encode(lf.digest, 'hex') AS digest, min(lf.size)::bigint AS size, count(*) AS copies, count(DISTINCT lf.blob_digest) AS layers,
    (min(lf.size) * (count(*) - 1))::bigint AS extra_bytes, min(lf.path)::text AS sample_path
FROM layer_files lf
JOIN live USING (blob_digest)
WHERE lf.type = 1 AND lf.size > 0
GROUP BY lf.digest
HAVING count(*) > 1
ORDER BY extra_bytes DESC, 1
LIMIT sqlc.arg('limit')::bigint;
