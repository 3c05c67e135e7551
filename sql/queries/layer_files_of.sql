-- name: LayerFilesOf :many
-- The file index entries of layer blobs $1, in tar order.
SELECT blob_digest, type, path, size, mode, uid, gid, digest, coalesce(link, '')
FROM layer_files
WHERE blob_digest = ANY ($1::text[])
ORDER BY blob_digest, ordinal;
