-- A layer's listing (layer_listings) from its rows of layer_files: its
-- file index entries in tar order, packed into one value, so a report that
-- needs a layer's whole index (the final filesystems of `diff`, `bloat
-- --image`, `find`) reads one value per layer instead of a row per entry.
-- The rows stay the index the searches use. The store packs a listing in
-- Go (internal/listing) in the transaction that writes the rows, and its
-- tests hold the two byte for byte equal; migration 00036 packed the
-- layers indexed before it with this.
--
-- The format, version 1: the byte 1, then each entry in ordinal order:
--   type int16, mode int32, uid int64, gid int64, size int64,
--   the path's length int32 and its UTF-8 bytes,
--   the digest's length int32 (-1 when NULL) and its bytes,
--   the link's length int32 (-1 when NULL) and its UTF-8 bytes;
-- every integer big-endian (Postgres's binary send format). The number of
-- entries is layer_indexes.entries.
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
