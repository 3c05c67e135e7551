-- name: NearLayersWalk :many
-- duplicates --kind layer over every repository: the next page of live
-- indexed layers (with a diff_id) in the report's walk, the largest
-- first, after (before_bytes, before_digest) in that order.
SELECT k.blob_digest, k.file_bytes
FROM layer_file_keys k
JOIN live_layer_blobs l ON l.blob_digest = k.blob_digest
JOIN blobs b ON b.digest = k.blob_digest AND b.diff_id IS NOT NULL
WHERE (k.file_bytes, k.blob_digest) < (@before_bytes::bigint, @before_digest::text) AND k.file_bytes > 0
ORDER BY k.file_bytes DESC, k.blob_digest DESC
LIMIT @page::integer;
