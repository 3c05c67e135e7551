-- name: NearLayersKeys :many
-- duplicates --kind layer: the keys and sizes of the given layers' files
-- (layer_file_keys), to compare pairs exactly.
SELECT blob_digest, keys, sizes FROM layer_file_keys WHERE blob_digest = ANY (@layers::text[]);
