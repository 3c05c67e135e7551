-- Bytes that stale base builds keep stored: per group $1, the distinct layer
-- blobs of the stale builds $2 that their base's current build $3 lacks.
SELECT g, sum(size)::bigint FROM (
    SELECT DISTINCT u.g, ml.blob_digest, b.size
    FROM unnest($1::integer[], $2::text[], $3::text[]) AS u(g, base, cur)
    JOIN manifest_layers ml ON ml.manifest_digest = u.base
    JOIN blobs b ON b.digest = ml.blob_digest
    WHERE NOT EXISTS (SELECT 1 FROM manifest_layers c WHERE c.manifest_digest = u.cur AND c.blob_digest = ml.blob_digest)
) x
GROUP BY g
