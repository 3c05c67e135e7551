-- Each layer's file index as one value (layer_listings), for the reports
-- that read a layer's whole index.
--
-- `diff` of two images of 1 GB read their 74,046 entries as rows of
-- layer_files: 100–130 ms of a new backend's time, most of it its first
-- touch of the 3,300 shared buffers those rows and their index fill, and
-- each row decoded apart. A listing per layer, packed as
-- layerq_layer_listing packs it (compressed by TOAST), is about 230
-- buffers for the same entries. The store writes a layer's listing with
-- its rows from now on; this packs those of the layers indexed before.
-- The rows stay: the searches (`find`, `duplicates`, the fold's file
-- contents) read them by name and content.

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);

CREATE TABLE layer_listings (
    blob_digest text PRIMARY KEY REFERENCES layer_indexes (blob_digest) ON DELETE CASCADE,
    listing     bytea NOT NULL
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_layer_listing(p_blob text) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT '\x01'::bytea || coalesce(string_agg(
        int2send(f.type) || int4send(f.mode) || int8send(f.uid) || int8send(f.gid) || int8send(f.size)
        || int4send(length(c.path)) || c.path
        || int4send(coalesce(length(f.digest), -1)) || coalesce(f.digest, ''::bytea)
        || int4send(coalesce(length(c.link), -1)) || coalesce(c.link, ''::bytea),
        ''::bytea ORDER BY f.ordinal), ''::bytea)
    FROM layer_files f
    CROSS JOIN LATERAL (SELECT convert_to(f.path, 'UTF8') AS path, convert_to(f.link, 'UTF8') AS link) c
    WHERE f.blob_digest = p_blob
$$;
-- +goose StatementEnd

INSERT INTO layer_listings (blob_digest, listing)
SELECT blob_digest, layerq_layer_listing(blob_digest) FROM layer_indexes ORDER BY blob_digest;

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);
DROP TABLE layer_listings;
DROP FUNCTION layerq_layer_listing(text);
