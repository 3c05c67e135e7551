-- name: DuplicatesFileSelection :many
-- The layers of live images in repositories matching repository (a
-- regexp), each once, for duplicates --kind file with a filter: the
-- blob's digest and its regular files (layer_indexes.files; -1 when it is
-- not indexed). The selected repositories' blobs are what the fold keeps
-- per repository (repository_blobs: layers and configs of their live
-- manifests), one index range each; a blob is an image's layer when a
-- config names it (a diff_id), asked of each blob by its key (a config
-- here that is a layer elsewhere counts: duplicates_blob.sql).
WITH sel AS MATERIALIZED (
    SELECT DISTINCT rb.digest AS blob_digest
    FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.refs > 0
    WHERE r.name ~ sqlc.arg(repository)::text
)
SELECT s.blob_digest::text AS blob_digest, coalesce(li.files, -1)::integer AS files
FROM sel s
CROSS JOIN LATERAL (SELECT 1 FROM blobs b WHERE b.digest = s.blob_digest AND b.diff_id IS NOT NULL OFFSET 0) image
LEFT JOIN layer_indexes li ON li.blob_digest = s.blob_digest;
