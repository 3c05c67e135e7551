-- name: LayerIndexCount :one
-- How many layer blobs the file index holds.
SELECT count(*) AS layers FROM layer_indexes;
