-- Config history entries of a batch, sorted by (config_digest, position).
INSERT INTO config_history (config_digest, position, created, created_by, author, comment, empty_layer)
SELECT * FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::boolean[])
ON CONFLICT (config_digest, position) DO NOTHING
