-- name: LayerFilesOf :many
-- The file index entries of the layer blobs whose digests are blobs, in tar
-- order.
SELECT blob_digest, type, path, size, mode, uid, gid, digest, coalesce(link, '') AS link
FROM layer_files
WHERE blob_digest = ANY (sqlc.arg(blobs)::text[])
ORDER BY blob_digest, ordinal;
