-- The file index of each layer: what layer scanning (internal/layerindex)
-- reads out of the layer blobs, for the bloat and duplicates reports.
--
-- A layer is indexed once per blob digest: the digest the registry verifies
-- and that every image sharing the layer names, so a layer shared by 500
-- images is read once. (Keying by diff_id would read a gzip and a zstd copy
-- of one tar once, but would trust the diff_id an image config claims, or
-- cost a SHA-256 of every uncompressed byte to check it.) The index and its
-- entries are written in one transaction, so an index row always has all of
-- its entries.

-- +goose Up
CREATE TABLE layer_indexes (
    blob_digest       text PRIMARY KEY,
    -- The diff_id the image configs claim for the blob (not checked).
    diff_id           text,
    compression       text NOT NULL CHECK (compression IN ('gzip', 'zstd', 'none')),
    compressed_size   bigint NOT NULL,
    uncompressed_size bigint NOT NULL,
    entries           integer NOT NULL,
    files             integer NOT NULL,
    file_bytes        bigint NOT NULL,
    scanned_at        timestamptz NOT NULL DEFAULT now()
);

-- One row per tar entry, in tar order (ordinal from 0).
--   type: 1 file, 2 dir, 3 symlink, 4 hardlink, 5 whiteout, 6 opaque, 7 other
--     (character/block device, FIFO); see layer_file_types.
--   path: cleaned and relative ("." is the root); for a whiteout, the path it
--     removes; for an opaque marker, the directory it makes opaque. Bytes
--     that are not UTF-8 are kept as \xNN.
--   digest: XXH3-128 of a regular file's content, for equality only (it is
--     not an OCI digest).
--   link: a symlink's target verbatim, a hard link's cleaned target path.
CREATE TABLE layer_files (
    blob_digest text NOT NULL,
    ordinal integer NOT NULL,
    type    smallint NOT NULL CHECK (type BETWEEN 1 AND 7),
    path    text NOT NULL,
    size    bigint NOT NULL,
    mode    integer NOT NULL,
    uid     bigint NOT NULL,
    gid     bigint NOT NULL,
    digest  bytea,
    link    text,
    PRIMARY KEY (blob_digest, ordinal)
);

CREATE VIEW layer_file_types (type, name) AS
VALUES (1::smallint, 'file'), (2::smallint, 'dir'), (3::smallint, 'symlink'),
    (4::smallint, 'hardlink'), (5::smallint, 'whiteout'), (6::smallint, 'opaque'),
    (7::smallint, 'other');

-- Layer blobs that cannot be indexed, and why: a verdict about the bytes
-- (over a cap, a compression bomb, a sparse or unsafe entry, a corrupt
-- stream, a digest mismatch), so they are not fetched again.
CREATE TABLE layer_rejections (
    blob_digest text PRIMARY KEY,
    diff_id     text,
    registry    text NOT NULL,
    repository  text NOT NULL,
    class       text NOT NULL,
    reason      text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

-- The layers of live manifests, one row per (live membership, layer): what
-- the duplicates reports (and dashboards) start from.
CREATE VIEW live_layers AS
SELECT r.registry, r.name AS repository, ml.manifest_digest, ml.position, ml.blob_digest, b.diff_id, b.size
FROM manifest_layers ml
JOIN repository_manifests rm ON rm.manifest_digest = ml.manifest_digest AND rm.deleted_at IS NULL
JOIN repositories r ON r.id = rm.repository_id
JOIN blobs b ON b.digest = ml.blob_digest;

-- The bloat report finds the tags of an index child through its index.
CREATE INDEX index_children_child_idx ON index_children (child_digest);

-- +goose Down
DROP INDEX index_children_child_idx;
DROP VIEW live_layers;
DROP TABLE layer_rejections;
DROP VIEW layer_file_types;
DROP TABLE layer_files, layer_indexes;
