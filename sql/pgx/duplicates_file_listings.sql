-- The listings (internal/listing) of the indexed layer blobs among $1,
-- each with its count of entries, for duplicates --kind file with a
-- filter. A layer indexed without its listing (by a layerq from before
-- migration 00036) is packed from its rows here. Read in binary (a bytea
-- is hex in text).
SELECT li.blob_digest, li.entries, coalesce(l.listing, layerq_layer_listing(li.blob_digest))
FROM layer_indexes li
LEFT JOIN layer_listings l ON l.blob_digest = li.blob_digest
WHERE li.blob_digest = ANY ($1::text[]);
