-- name: DuplicatesFile :one
-- duplicates --kind file for a filter whose layers hold more files than
-- the process counts itself (internal/report countFiles), counted here:
-- file-level deduplication over the distinct indexed layer blobs of live
-- images in repositories matching repository, a regexp (each blob counted
-- once, as the registry stores it once): regular files, their bytes, the
-- distinct contents and their bytes. unique_bytes / total_bytes is what
-- file-level dedup would keep. Also the number of live layers not indexed
-- yet. Image layers only (a diff_id in a config): artifact blobs are not
-- file systems.
--
-- Each selected layer's files are read by its key (a lateral subquery
-- the planner cannot flatten): a repository's few hundred layers are
-- 40,000 rows, which the planner, guessing 117,000, read by a scan of
-- every entry in parallel (2.4 s at 100,000 images with file indexes).
-- Whether a layer is an image's is asked of it alone, for the same reason.
WITH live AS MATERIALIZED (
    SELECT d.blob_digest, EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = d.blob_digest) AS indexed
    FROM (
        SELECT DISTINCT rb.digest AS blob_digest
        FROM repositories r
        JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.refs > 0
        WHERE r.name ~ sqlc.arg(repository)::text
    ) d
    CROSS JOIN LATERAL (SELECT 1 FROM blobs b WHERE b.digest = d.blob_digest AND b.diff_id IS NOT NULL OFFSET 0) image
),
f AS (
    SELECT lf.digest, lf.size
    FROM live
    CROSS JOIN LATERAL (
        SELECT x.digest, x.size FROM layer_files x WHERE x.blob_digest = live.blob_digest AND x.type = 1 AND x.digest IS NOT NULL OFFSET 0
    ) lf
    WHERE live.indexed
),
u AS (
    SELECT DISTINCT ON (digest) digest, size FROM f
)
SELECT (SELECT count(*) FROM live WHERE indexed) AS layers,
    (SELECT count(*) FROM live WHERE NOT indexed) AS unindexed,
    (SELECT count(*) FROM f) AS files,
    (SELECT coalesce(sum(size), 0)::bigint FROM f) AS total_bytes,
    (SELECT count(*) FROM u) AS unique_files,
    (SELECT coalesce(sum(size), 0)::bigint FROM u) AS unique_bytes;
