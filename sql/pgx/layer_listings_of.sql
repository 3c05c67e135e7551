-- The listings of the indexed layer blobs among $1 (layer_listings), each
-- with its count of entries; none for a blob not indexed. Read in binary:
-- a one-shot connection reads results as text, where a bytea is hex, twice
-- its bytes on the wire and decoded again.
SELECT li.blob_digest, li.entries, l.listing
FROM layer_indexes li
JOIN layer_listings l ON l.blob_digest = li.blob_digest
WHERE li.blob_digest = ANY ($1::text[]);
