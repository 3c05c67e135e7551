-- name: DuplicatesFile :one
-- duplicates --kind file for a filter whose layers hold more files than
-- the process counts itself (internal/report countFiles), counted here
-- over the indexed layer blobs blobs (duplicates_file_selection.sql
-- selects them, each once, as the registry stores each once): their
-- regular files of known content, their bytes, the distinct contents and
-- their bytes. unique_bytes / total_bytes is what file-level dedup would
-- keep.
--
-- Each layer's files are read by its key (a lateral subquery the planner
-- cannot flatten): a repository's few hundred layers are 40,000 rows,
-- which the planner, guessing 117,000, read by a scan of every entry in
-- parallel (2.4 s at 100,000 images with file indexes).
WITH f AS (
    SELECT lf.digest, lf.size
    FROM unnest(sqlc.arg(blobs)::text[]) AS l(blob_digest)
    CROSS JOIN LATERAL (
        SELECT x.digest, x.size FROM layer_files x WHERE x.blob_digest = l.blob_digest AND x.type = 1 AND x.digest IS NOT NULL OFFSET 0
    ) lf
),
u AS (
    SELECT DISTINCT ON (digest) digest, size FROM f
)
SELECT (SELECT count(*) FROM f) AS files,
    (SELECT coalesce(sum(size), 0)::bigint FROM f) AS total_bytes,
    (SELECT count(*) FROM u) AS unique_files,
    (SELECT coalesce(sum(size), 0)::bigint FROM u) AS unique_bytes;
