-- The live layers of the repositories matching $1 (a regexp), each once,
-- for duplicates --kind file with a filter: the selected repositories'
-- blobs as the fold keeps them (repository_blobs, one index range each),
-- of them the live layer blobs (live_layer_blobs: a live image holds the
-- blob and a config names it), indexed as the fold last found it, as the
-- figures over every repository (file_totals) count them, and with its
-- index there (layer_indexes, read only for a layer with no listing).
-- Each row: the blob's digest, whether it is indexed, and its listing
-- (NULL when it is not); a layer indexed without its listing (by a
-- layerq from before migration 00036) is packed from its rows. Read in
-- binary.
WITH sel AS MATERIALIZED (
    SELECT DISTINCT rb.digest
    FROM repositories r
    JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.refs > 0
    WHERE r.name ~ $1
),
x AS (
    SELECT s.digest, k.indexed AND (l.listing IS NOT NULL OR EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = s.digest)) AS indexed,
        l.listing
    FROM sel s
    JOIN live_layer_blobs k ON k.blob_digest = s.digest
    LEFT JOIN layer_listings l ON k.indexed AND l.blob_digest = s.digest
)
SELECT digest, indexed, CASE WHEN indexed THEN coalesce(listing, layerq_layer_listing(digest)) END
FROM x;
