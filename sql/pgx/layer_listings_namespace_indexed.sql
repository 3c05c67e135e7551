-- The indexed live layers one namespace holds, each once with its
-- listing, for duplicates --kind file of a selection that is the
-- namespace's repositories when the registries hold no more indexed live
-- layers in all than the namespace has waiting (none, or a registry being
-- indexed): read from the indexed side, the partial index of the indexed
-- live layers (live_layer_blobs, indexed as the fold last found it), each
-- looked up among the namespace's blobs (namespace_blobs), instead of
-- probing every blob of the namespace for a listing it does not have.
-- The namespace's waiting layers are counted from namespace_backlog, as
-- the fold last found them too. A layer indexed without its listing (by a
-- layerq from before migration 00036) is packed from its rows. Each row:
-- the blob's digest, true (indexed), its listing. $1: the registry, $2:
-- the namespace. Read in binary.
SELECT k.blob_digest, true, coalesce(l.listing, layerq_layer_listing(k.blob_digest))
FROM live_layer_blobs k
JOIN namespace_blobs nb ON nb.registry = $1 AND nb.namespace = $2 AND nb.digest = k.blob_digest AND nb.refs > 0
LEFT JOIN LATERAL (SELECT l.listing FROM layer_listings l WHERE l.blob_digest = k.blob_digest OFFSET 0) l ON true
WHERE k.indexed
  AND (l.listing IS NOT NULL OR EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = k.blob_digest));
