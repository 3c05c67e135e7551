-- name: DuplicatesFileTop :many
-- The file contents stored most often over the distinct indexed layer
-- blobs of live images in repositories matching $1, by the bytes the extra copies
-- take. $2: limit.
WITH live AS (
    SELECT DISTINCT blob_digest FROM live_layers WHERE repository ~ $1 AND diff_id IS NOT NULL
)
SELECT encode(lf.digest, 'hex'), min(lf.size)::bigint, count(*) AS copies, count(DISTINCT lf.blob_digest) AS layers,
    (min(lf.size) * (count(*) - 1))::bigint AS extra_bytes, min(lf.path) AS sample_path
FROM layer_files lf
JOIN live USING (blob_digest)
WHERE lf.type = 1 AND lf.size > 0
GROUP BY lf.digest
HAVING count(*) > 1
ORDER BY extra_bytes DESC, 1
LIMIT $2;
