-- Bytes that stale base builds keep stored: per group $1, the distinct layer
-- blobs of the stale builds $2 that their base's current build $3 lacks.
WITH u AS (
    SELECT * FROM unnest($1::integer[], $2::text[], $3::text[]) AS u(g, base, cur)
),
stale AS (
    SELECT u.g, ml.blob_digest FROM u JOIN manifest_layers ml ON ml.manifest_digest = u.base
    EXCEPT
    SELECT u.g, ml.blob_digest FROM u JOIN manifest_layers ml ON ml.manifest_digest = u.cur
)
SELECT s.g, sum(b.size)::bigint
FROM stale s JOIN blobs b ON b.digest = s.blob_digest
GROUP BY s.g
