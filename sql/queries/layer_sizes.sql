-- name: LayerSizes :many
-- The indexed layer blobs among blobs, with their uncompressed size (the
-- layer tar's bytes). A blob with no row has no file index.
SELECT blob_digest, uncompressed_size
FROM layer_indexes
WHERE blob_digest = ANY (sqlc.arg(blobs)::text[]);
