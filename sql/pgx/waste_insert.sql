-- Store worked-out image waste and its pairs; a manifest's rows, once
-- written, stay. (image_waste's trigger queues the manifest: the fold
-- takes it off waste_pending and into the bloat totals.)
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[], $7::jsonb[])
        AS u (manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes, pairs)
),
saved AS (
    INSERT INTO image_waste (manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes)
    SELECT manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes FROM u
    ON CONFLICT (manifest_digest) DO NOTHING
)
INSERT INTO image_waste_pairs (manifest_digest, pairs)
SELECT manifest_digest, pairs FROM u
ON CONFLICT (manifest_digest) DO NOTHING;
