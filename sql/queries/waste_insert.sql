-- Store worked-out image waste; a manifest's row, once written, stays.
INSERT INTO image_waste (manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes)
SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[])
ON CONFLICT (manifest_digest) DO NOTHING
