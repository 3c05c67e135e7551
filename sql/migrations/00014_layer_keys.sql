-- Keys for near-duplicate layers (`layerq duplicates --kind layer`).
--
-- The report compared every pair of live layers that share a file: a
-- self-join of the file index on (path, content), which grows with the
-- square of how many layers hold a popular file (minutes at 10,000 images
-- with file indexes). layer_file_keys holds each indexed layer's files as
-- sorted (key, size) arrays, and layer_prefix_keys the files any layer at
-- least 0.8 as similar must share one of (prefix filtering; see
-- sql/functions/layer_keys.sql). The report walks layers from the largest,
-- takes the candidates their prefixes give, compares each pair exactly
-- from the arrays, and stops once no pair left can enter its page.
--
-- Written with each layer's index from now on (layerq_layer_keys, called
-- by the ingest in the index's transaction); this migration computes them
-- for every layer already indexed (about 45 s per 100,000 images with file
-- indexes).

-- +goose Up
CREATE TABLE layer_file_keys (
    blob_digest text PRIMARY KEY,
    file_bytes  bigint NOT NULL,  -- layer_indexes.file_bytes
    keys        bigint[] NOT NULL, -- each distinct (path, content) of a regular non-empty file, hashed; ascending
    sizes       bigint[] NOT NULL  -- their sizes, in the same order
);
-- The report's walk: the largest layers first.
CREATE INDEX layer_file_keys_bytes_idx ON layer_file_keys (file_bytes, blob_digest);

CREATE TABLE layer_prefix_keys (
    blob_digest text NOT NULL,
    tail_bytes  bigint NOT NULL, -- this file's size and every smaller one's (by size, then key) in its layer
    key         bigint NOT NULL,
    file_bytes  bigint NOT NULL, -- the layer's
    PRIMARY KEY (blob_digest, tail_bytes) INCLUDE (key)
);
-- The candidates of a layer: the layers whose prefix holds one of its
-- prefix's keys, of a file_bytes its similarity allows.
CREATE INDEX layer_prefix_keys_key_idx ON layer_prefix_keys (key, file_bytes) INCLUDE (blob_digest, tail_bytes);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_layer_keys(p_blobs text[]) RETURNS void
LANGUAGE sql AS $$
    WITH t AS (
        SELECT DISTINCT lf.blob_digest, hashtextextended(encode(lf.digest, 'hex') || lf.path, 0) AS key, lf.size
        FROM unnest(p_blobs) AS b(digest)
        JOIN layer_files lf ON lf.blob_digest = b.digest
        WHERE lf.type = 1 AND lf.size > 0 AND lf.digest IS NOT NULL
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
    WHERE x.tail_bytes * 5 >= x.file_bytes * 4
$$;
-- +goose StatementEnd

SELECT layerq_layer_keys(array(SELECT blob_digest FROM layer_indexes));

-- +goose Down
DROP FUNCTION layerq_layer_keys(text[]);
DROP TABLE layer_prefix_keys, layer_file_keys;
