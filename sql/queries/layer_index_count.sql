-- name: LayerIndexCount :one
-- How many layer blobs the file index holds.
SELECT count(*) FROM layer_indexes;
