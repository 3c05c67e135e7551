-- The live indexed layers one namespace holds, each once with its
-- listing, for duplicates --kind file of a selection that is the
-- namespace's repositories: its blobs as the fold keeps them
-- (namespace_blobs) that the partial index of the indexed live layers
-- holds (live_layer_blobs, indexed as the fold last found it), in one
-- statement that reads the index itself (layer_indexes) only for a layer
-- with no listing (the count of a listing's entries is not needed: it is
-- read to its end). The layers not indexed are counted in
-- namespace_backlog. Each row: the blob's digest, true (indexed), its
-- listing; a layer indexed without its listing (by a layerq from before
-- migration 00036) is packed from its rows. $1: the registry, $2: the
-- namespace. Read in binary.
SELECT nb.digest, true, coalesce(l.listing, layerq_layer_listing(nb.digest))
FROM namespace_blobs nb
JOIN live_layer_blobs k ON k.blob_digest = nb.digest AND k.indexed
LEFT JOIN layer_listings l ON l.blob_digest = nb.digest
WHERE nb.registry = $1 AND nb.namespace = $2 AND nb.refs > 0
  AND (l.listing IS NOT NULL OR EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = nb.digest));
