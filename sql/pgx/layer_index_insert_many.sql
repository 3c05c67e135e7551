-- Layer index rows, many at once (an empty diff_id is stored as NULL), their
-- blobs queued for their near-duplicate keys (layerq_apply_layer_keys);
-- returns the blobs it inserted, whose entries follow in the same
-- transaction. A blob another worker indexed first is left as it is.
WITH ins AS (
    INSERT INTO layer_indexes (blob_digest, diff_id, compression, compressed_size, uncompressed_size, entries, files, file_bytes)
    SELECT u.blob_digest, nullif(u.diff_id, ''), u.compression, u.compressed_size, u.uncompressed_size, u.entries, u.files, u.file_bytes
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::int[], $7::int[], $8::bigint[])
        AS u (blob_digest, diff_id, compression, compressed_size, uncompressed_size, entries, files, file_bytes)
    ORDER BY u.blob_digest
    ON CONFLICT (blob_digest) DO NOTHING
    RETURNING blob_digest
), queued AS (
    INSERT INTO layer_keys_queue (blob_digest) SELECT blob_digest FROM ins ORDER BY blob_digest
    ON CONFLICT (blob_digest) DO NOTHING
)
SELECT blob_digest FROM ins ORDER BY blob_digest;
