-- The layers of live images in repositories matching $1 (a regexp), each
-- once, for duplicates --kind file with a filter: the blob's digest, its
-- count of entries and its listing (internal/listing) when it is indexed,
-- else -1 and NULL. The selected repositories' blobs are what the fold
-- keeps per repository (repository_blobs: layers and configs of their
-- live manifests), one index range each; a blob is an image's layer when
-- a config names it (a diff_id), asked of each blob by its key. A layer
-- indexed without its listing (by a layerq from before migration 00036)
-- is packed from its rows here. Read in binary (a bytea is hex in text).
WITH sel AS MATERIALIZED (
    SELECT DISTINCT rb.digest AS blob_digest
    FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.refs > 0
    WHERE r.name ~ $1::text
)
SELECT s.blob_digest, coalesce(li.entries, -1),
    CASE WHEN li.blob_digest IS NOT NULL THEN coalesce(l.listing, layerq_layer_listing(li.blob_digest)) END
FROM sel s
CROSS JOIN LATERAL (SELECT 1 FROM blobs b WHERE b.digest = s.blob_digest AND b.diff_id IS NOT NULL OFFSET 0) image
LEFT JOIN layer_indexes li ON li.blob_digest = s.blob_digest
LEFT JOIN layer_listings l ON l.blob_digest = s.blob_digest;
