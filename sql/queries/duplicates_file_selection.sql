-- name: DuplicatesFileSelection :many
-- The layers of live images in repositories matching repository (a
-- regexp), each once, for duplicates --kind file with a filter of more
-- files than the process counts (the server counts them): the
-- blob's digest and whether it is indexed. The selected repositories' blobs are what the fold keeps
-- per repository (repository_blobs: layers and configs of their live
-- manifests), one index range each; of them, the layers are the live
-- layer blobs (live_layer_blobs: a live image holds the blob and a config
-- names it) and indexed as the fold last found it, as the figures over
-- every repository (file_totals) count them.
WITH sel AS MATERIALIZED (
    SELECT DISTINCT rb.digest AS blob_digest
    FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.refs > 0
    WHERE r.name ~ sqlc.arg(repository)::text
)
SELECT s.blob_digest::text AS blob_digest, coalesce(k.indexed AND li.blob_digest IS NOT NULL, false)::boolean AS indexed
FROM sel s
JOIN live_layer_blobs k ON k.blob_digest = s.blob_digest
LEFT JOIN layer_indexes li ON li.blob_digest = s.blob_digest AND k.indexed;
