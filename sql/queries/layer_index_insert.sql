-- A layer's index row; the entries follow in the same transaction (COPY into
-- layer_files) only when this inserted a row. Indexing a layer that another
-- worker indexed first does nothing.
INSERT INTO layer_indexes (diff_id, blob_digest, compression, compressed_size, uncompressed_size, entries, files, file_bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (diff_id) DO NOTHING
