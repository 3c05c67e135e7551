-- The listings of the indexed layer blobs among $1 (layer_listings), each
-- with its count of entries, and on every row the entries of them all;
-- none for a blob not indexed. A layer indexed
-- without its listing (by a layerq from before migration 00036, still
-- running beside a newer one) is packed from its rows here. Read in
-- binary: a one-shot connection reads results as text, where a bytea is
-- hex, twice its bytes on the wire and decoded again.
SELECT li.blob_digest, li.entries, coalesce(l.listing, layerq_layer_listing(li.blob_digest)), sum(li.entries) OVER ()::bigint
FROM layer_indexes li
LEFT JOIN layer_listings l ON l.blob_digest = li.blob_digest
WHERE li.blob_digest = ANY ($1::text[]);
