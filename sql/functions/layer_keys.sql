-- layerq_layer_keys: the near-duplicate keys of newly indexed layer blobs
-- (migration 00014), for `layerq duplicates --kind layer`.
--
-- A layer's tokens are its distinct regular non-empty files as (path,
-- content): key is a 64-bit hash of the two, weighted by the file's size.
-- Two layers' similarity is the bytes of the tokens they share over the
-- bytes of their union (file_bytes counts every regular file entry, so it
-- is at least a layer's token bytes).
--
-- layer_file_keys holds every token of a layer, as two arrays sorted by
-- (key, size): comparing two layers exactly is a merge of four arrays.
-- layer_prefix_keys holds the prefix of each layer for prefix filtering:
-- with its tokens ordered by size, largest first (then by key), the tokens
-- whose tail (its own size and every token after it) is at least 0.8 of
-- the layer's file bytes. Two layers whose similarity is at least t share at
-- least t of each one's file bytes, so the first token they share (in that
-- order) has a tail of at least t times each one's file bytes: it is in
-- both prefixes at t. A prefix at t >= 0.8 is the rows with tail_bytes >=
-- t * file_bytes.
--
-- Called after a blob's layer_files are written, in the same transaction;
-- a blob that already has its keys is left as it is.
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
