-- The step that made a layer content, as the reports name it: of its
-- encodings (blobs), the created_by of the first membership, by manifest
-- and position, that has one; '' when none does. Each encoding's first
-- comes from the blob index, then the first of those: the index cannot
-- order several blobs' memberships at once, and a base layer has hundreds
-- of thousands.
CREATE OR REPLACE FUNCTION layerq_first_step(digests text[]) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT x.created_by FROM unnest(digests) AS d(digest)
                     CROSS JOIN LATERAL (SELECT ml.created_by, ml.manifest_digest, ml.position FROM manifest_layers ml
                                         WHERE ml.blob_digest = d.digest AND ml.created_by IS NOT NULL
                                         ORDER BY ml.manifest_digest, ml.position LIMIT 1) x
                     ORDER BY x.manifest_digest, x.position LIMIT 1), '')
$$;
