-- name: LayerIndexInsert :exec
-- A layer's index row; the entries follow in the same transaction (COPY into
-- layer_files) only when this inserted a row. Indexing a blob that another
-- worker indexed first does nothing.
INSERT INTO layer_indexes (blob_digest, diff_id, compression, compressed_size, uncompressed_size, entries, files, file_bytes)
VALUES ($1, nullif($2, ''), $3, $4, $5, $6, $7, $8)
ON CONFLICT (blob_digest) DO NOTHING;
