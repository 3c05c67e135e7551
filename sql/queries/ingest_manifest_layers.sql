-- Layer lists of a batch, sorted by (manifest_digest, position).
INSERT INTO manifest_layers (manifest_digest, position, blob_digest, chain_id, history_index, created_by, created, comment)
SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::integer[], $6::text[], $7::timestamptz[], $8::text[])
ON CONFLICT (manifest_digest, position) DO NOTHING
