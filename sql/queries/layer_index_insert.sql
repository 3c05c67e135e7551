-- name: LayerIndexInsert :execrows
-- A layer's index row (an empty diff_id is stored as NULL), its blob queued
-- for its near-duplicate keys (layerq_apply_layer_keys); the entries
-- follow in the same transaction (COPY into layer_files) only when this
-- inserted a row (1 row affected). Indexing a blob that another worker
-- indexed first does nothing.
WITH ins AS (
    INSERT INTO layer_indexes (blob_digest, diff_id, compression, compressed_size, uncompressed_size, entries, files, file_bytes)
    VALUES (@blob_digest, nullif(@diff_id::text, ''), @compression, @compressed_size, @uncompressed_size, @entries, @files, @file_bytes)
    ON CONFLICT (blob_digest) DO NOTHING
    RETURNING blob_digest
), queued AS (
    INSERT INTO layer_keys_queue (blob_digest) SELECT blob_digest FROM ins
    ON CONFLICT (blob_digest) DO NOTHING
)
SELECT blob_digest FROM ins;
