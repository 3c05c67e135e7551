-- Near-duplicate layers (`layerq duplicates --kind layer`), kept.
--
-- The report compared every pair of live layers that share a file: a
-- self-join of the file index on (path, content), which grows with the
-- square of how many layers hold a popular file (minutes at 10,000 images
-- with file indexes). Now each layer's keys are written with its index:
-- layer_file_keys (its files as sorted key and size arrays),
-- layer_prefix_keys (the files any layer at least 0.8 similar must share
-- one of: prefix filtering) and layer_pairs (every pair of indexed layers
-- at least 0.8 similar, compared exactly); see
-- sql/functions/layer_keys.sql. The report reads layer_pairs' live pairs
-- from an index on their shared bytes; below 0.8 it compares every pair
-- as before.
--
-- Written with each layer's index from now on (layerq_layer_keys, called
-- by the ingest in the index's transaction); this migration computes them
-- for every layer already indexed.

-- +goose Up
CREATE TABLE layer_file_keys (
    blob_digest text PRIMARY KEY,
    file_bytes  bigint NOT NULL,   -- layer_indexes.file_bytes
    keys        bigint[] NOT NULL, -- each distinct (path, content) of a regular non-empty file, hashed; ascending
    sizes       bigint[] NOT NULL  -- their sizes, in the same order
);

CREATE TABLE layer_prefix_keys (
    blob_digest text NOT NULL,
    tail_bytes  bigint NOT NULL, -- this file's size and every smaller one's (by size, then key) in its layer
    key         bigint NOT NULL,
    file_bytes  bigint NOT NULL, -- the layer's
    PRIMARY KEY (blob_digest, tail_bytes) INCLUDE (key)
);
-- A new layer's candidates: the layers whose prefix holds one of its
-- prefix's keys, of a file_bytes the similarity allows.
CREATE INDEX layer_prefix_keys_key_idx ON layer_prefix_keys (key, file_bytes) INCLUDE (blob_digest, tail_bytes);

CREATE TABLE layer_pairs (
    layer_a      text NOT NULL,
    layer_b      text NOT NULL,
    shared_bytes bigint NOT NULL,  -- of the files both hold
    shared_files bigint NOT NULL,
    similarity   float8 NOT NULL,  -- shared_bytes over the bytes of their union
    PRIMARY KEY (layer_a, layer_b),
    CHECK (layer_a < layer_b)
);
-- The report's page: the pairs that share the most first.
CREATE INDEX layer_pairs_rank_idx ON layer_pairs (shared_bytes DESC, similarity DESC, layer_a, layer_b);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_layer_keys(p_blobs text[]) RETURNS void
LANGUAGE sql SET enable_seqscan = off AS $$
    SELECT pg_advisory_xact_lock(27761, 2);

    WITH t AS (
        SELECT DISTINCT b.digest AS blob_digest, hashtextextended(encode(lf.digest, 'hex') || lf.path, 0) AS key, lf.size
        FROM unnest(p_blobs) AS b(digest)
        CROSS JOIN LATERAL (SELECT lf.path, lf.digest, lf.size FROM layer_files lf
                            WHERE lf.blob_digest = b.digest AND lf.type = 1 AND lf.size > 0 AND lf.digest IS NOT NULL OFFSET 0) lf
    ),
    k AS (
        INSERT INTO layer_file_keys (blob_digest, file_bytes, keys, sizes)
        SELECT li.blob_digest, li.file_bytes,
            coalesce(array_agg(t.key ORDER BY t.key, t.size) FILTER (WHERE t.key IS NOT NULL), '{}'),
            coalesce(array_agg(t.size ORDER BY t.key, t.size) FILTER (WHERE t.key IS NOT NULL), '{}')
        FROM unnest(p_blobs) AS b(digest)
        JOIN layer_indexes li ON li.blob_digest = b.digest
        LEFT JOIN t ON t.blob_digest = li.blob_digest
        GROUP BY li.blob_digest, li.file_bytes
        ON CONFLICT (blob_digest) DO NOTHING
        RETURNING blob_digest, file_bytes
    )
    INSERT INTO layer_prefix_keys (key, file_bytes, blob_digest, tail_bytes)
    SELECT x.key, x.file_bytes, x.blob_digest, x.tail_bytes
    FROM (
        SELECT t.key, k.file_bytes, t.blob_digest,
            sum(t.size) OVER (PARTITION BY t.blob_digest ORDER BY t.size, t.key DESC ROWS UNBOUNDED PRECEDING)::bigint AS tail_bytes
        FROM t JOIN k ON k.blob_digest = t.blob_digest
    ) x
    WHERE x.tail_bytes * 5 >= x.file_bytes * 4 - 5;

    WITH cand AS (
        SELECT b.digest AS n, kn.file_bytes AS n_bytes, pc.blob_digest AS c, pc.file_bytes AS c_bytes
        FROM unnest(p_blobs) AS b(digest)
        CROSS JOIN LATERAL (SELECT kn.file_bytes FROM layer_file_keys kn WHERE kn.blob_digest = b.digest OFFSET 0) kn
        CROSS JOIN LATERAL (SELECT pn.key, pn.tail_bytes FROM layer_prefix_keys pn WHERE pn.blob_digest = b.digest OFFSET 0) pn
        CROSS JOIN LATERAL (SELECT pc.blob_digest, pc.file_bytes, pc.tail_bytes FROM layer_prefix_keys pc
                            WHERE pc.key = pn.key AND pc.file_bytes * 5 >= kn.file_bytes * 4 - 5 AND pc.file_bytes * 4 <= kn.file_bytes * 5 + 5
                                AND pc.blob_digest <> b.digest OFFSET 0) pc
        GROUP BY b.digest, kn.file_bytes, pc.blob_digest, pc.file_bytes
        HAVING least(max(pn.tail_bytes), max(pc.tail_bytes)) * 9 >= (kn.file_bytes + pc.file_bytes) * 4 - 9
    )
    INSERT INTO layer_pairs (layer_a, layer_b, shared_bytes, shared_files, similarity)
    SELECT least(cand.n, cand.c), greatest(cand.n, cand.c), v.bytes, v.files, v.bytes::float8 / (cand.n_bytes + cand.c_bytes - v.bytes)
    FROM cand
    CROSS JOIN LATERAL (SELECT kn.keys, kn.sizes FROM layer_file_keys kn WHERE kn.blob_digest = cand.n OFFSET 0) kn
    CROSS JOIN LATERAL (SELECT kc.keys, kc.sizes FROM layer_file_keys kc WHERE kc.blob_digest = cand.c OFFSET 0) kc
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(x.size), 0)::bigint AS bytes, count(*) AS files
        FROM unnest(kn.keys, kn.sizes) AS x(key, size)
        JOIN unnest(kc.keys, kc.sizes) AS y(key, size) ON y.key = x.key AND y.size = x.size
    ) v
    WHERE v.bytes > 0
        AND v.bytes::float8 / (cand.n_bytes + cand.c_bytes - v.bytes) >= 0.8
        AND NOT EXISTS (SELECT FROM layer_indexes la JOIN layer_indexes lc ON lc.diff_id = la.diff_id
                        WHERE la.blob_digest = cand.n AND lc.blob_digest = cand.c)
    -- A pair of two new layers comes from both: the second does nothing.
    ON CONFLICT DO NOTHING;
$$;
-- +goose StatementEnd

-- The layers already indexed, 1,000 at a time as the ingest would write
-- them: each batch pairs with those before it and within itself.
-- +goose StatementBegin
DO $$
DECLARE
    batch text[];
BEGIN
    FOR batch IN
        SELECT array_agg(blob_digest) FROM (
            SELECT blob_digest, (row_number() OVER (ORDER BY blob_digest) - 1) / 1000 AS n FROM layer_indexes) x
        GROUP BY n ORDER BY n
    LOOP
        PERFORM layerq_layer_keys(batch);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION layerq_layer_keys(text[]);
DROP TABLE layer_pairs, layer_prefix_keys, layer_file_keys;
