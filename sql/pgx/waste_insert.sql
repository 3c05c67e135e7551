-- Store worked-out image waste; a manifest's row, once written, stays.
INSERT INTO image_waste (manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes)
SELECT u.manifest_digest, u.layers, u.wasted_bytes, u.wasted_compressed_bytes, u.final_files, u.final_bytes
FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[])
    AS u (manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes)
ON CONFLICT (manifest_digest) DO NOTHING;
