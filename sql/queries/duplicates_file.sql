-- name: DuplicatesFile :one
-- File-level deduplication over the distinct indexed layer blobs of live
-- images in repositories matching repository, a regexp (each blob counted
-- once, as the registry stores it once): regular files, their bytes, the
-- distinct contents and their bytes. unique_bytes / total_bytes is what
-- file-level dedup would keep. Also the number of live layers not indexed
-- yet. Image layers only (a diff_id in a config): artifact blobs are not
-- file systems.
WITH live AS (
    SELECT DISTINCT blob_digest FROM live_layers WHERE repository ~ sqlc.arg(repository)::text AND diff_id IS NOT NULL
),
f AS (
    SELECT lf.digest, lf.size
    FROM layer_files lf
    JOIN live USING (blob_digest)
    WHERE lf.type = 1
),
u AS (
    SELECT DISTINCT ON (digest) digest, size FROM f
)
SELECT (SELECT count(*) FROM live l JOIN layer_indexes li USING (blob_digest)) AS layers,
    (SELECT count(*) FROM live l WHERE NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = l.blob_digest)) AS unindexed,
    (SELECT count(*) FROM f) AS files,
    (SELECT coalesce(sum(size), 0)::bigint FROM f) AS total_bytes,
    (SELECT count(*) FROM u) AS unique_files,
    (SELECT coalesce(sum(size), 0)::bigint FROM u) AS unique_bytes;
