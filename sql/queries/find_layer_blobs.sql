-- name: FindLayerBlobs :many
-- The layer blobs holding the content layer names: the blob of that digest
-- and every blob with its diff_id, or the blobs of that diff_id.
SELECT b.digest, b.size, coalesce(b.diff_id, '')::text AS diff_id
FROM blobs b
WHERE b.digest = sqlc.arg(layer)::text
   OR b.diff_id = sqlc.arg(layer)::text
   OR b.diff_id = (SELECT x.diff_id FROM blobs x WHERE x.digest = sqlc.arg(layer)::text)
ORDER BY b.digest;
