-- Index entries of a batch, sorted by (index_digest, position).
INSERT INTO index_children (index_digest, position, child_digest, media_type, size, os, architecture, variant, os_version)
SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])
ON CONFLICT (index_digest, position) DO NOTHING
