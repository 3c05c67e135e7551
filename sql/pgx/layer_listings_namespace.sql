-- The live layers one namespace holds, each once with its listing, for
-- duplicates --kind file of a selection that is the namespace's
-- repositories: its blobs as the fold keeps them (namespace_blobs), each
-- probed for its listing, one index descent each (OFFSET 0 keeps the
-- planner from reading every listing of the registry to join them: for a
-- namespace of 11,000 blobs among 490,000 listings that took twice as
-- long). A blob with no listing is a layer if the live layer blobs hold it
-- (the namespace's configs are not): indexed if its index is there (by a
-- layerq from before migration 00036, its listing is then packed from its
-- rows), else not indexed yet (nor refused: a refused layer has no index),
-- and counted as such. Whether a layer is indexed is read from the index
-- itself, in this statement's snapshot, so a layer indexed since the last
-- fold (on a read-only role) is counted with its files, not as waiting.
-- Each row: the blob's digest, whether it is indexed, its listing (NULL
-- when it is not). $1: the registry, $2: the namespace. Read in binary.
SELECT nb.digest, x.indexed, coalesce(l.listing, CASE WHEN x.indexed THEN layerq_layer_listing(nb.digest) END)
FROM namespace_blobs nb
LEFT JOIN LATERAL (SELECT l.listing FROM layer_listings l WHERE l.blob_digest = nb.digest OFFSET 0) l ON true
CROSS JOIN LATERAL (
    SELECT CASE WHEN l.listing IS NOT NULL THEN true
        ELSE EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = nb.digest) END AS indexed
) x
WHERE nb.registry = $1 AND nb.namespace = $2 AND nb.refs > 0
  AND (l.listing IS NOT NULL OR EXISTS (SELECT 1 FROM live_layer_blobs k WHERE k.blob_digest = nb.digest));
