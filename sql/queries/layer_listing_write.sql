-- name: LayerListingWrite :exec
-- The listings of layer blobs whose entries this transaction has just
-- written into layer_files, packed by the writer (internal/listing) as
-- layerq_layer_listing packs the rows.
INSERT INTO layer_listings (blob_digest, listing)
SELECT unnest(sqlc.arg(blobs)::text[]), unnest(sqlc.arg(listings)::bytea[]);
