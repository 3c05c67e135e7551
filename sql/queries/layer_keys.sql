-- name: LayerKeys :exec
-- The near-duplicate keys of layer blobs whose entries were just written
-- (sql/functions/layer_keys.sql), in the same transaction.
SELECT layerq_layer_keys(@blobs::text[]);
