-- Store worked-out image waste (a manifest's row, once written, stays) and
-- take the manifests off waste_pending.
WITH saved AS (
    INSERT INTO image_waste (manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes, pairs)
    SELECT u.manifest_digest, u.layers, u.wasted_bytes, u.wasted_compressed_bytes, u.final_files, u.final_bytes, u.pairs
    FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[], $7::jsonb[])
        AS u (manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes, pairs)
    ON CONFLICT (manifest_digest) DO NOTHING
)
DELETE FROM waste_pending WHERE manifest_digest = ANY ($1::text[]);
