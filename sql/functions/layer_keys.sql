-- layerq_layer_keys: the near-duplicate keys and pairs of newly indexed
-- layer blobs (migration 00014), for `layerq duplicates --kind layer`.
--
-- A layer's tokens are its distinct regular non-empty files as (path,
-- content): key is a 64-bit hash of the two, weighted by the file's size.
-- Two layers' similarity is the bytes of the tokens they share over the
-- bytes of their union (file_bytes counts every regular file entry, so it
-- is at least a layer's token bytes).
--
-- layer_file_keys holds every token of a layer, as two arrays sorted by
-- (key, size): comparing two layers exactly is a join of the arrays.
-- layer_prefix_keys holds the prefix of each layer for prefix filtering:
-- with its tokens ordered by size, largest first (then by key), the tokens
-- whose tail (its own size and every token after it) is at least 0.8 of
-- the layer's file bytes (less a byte, for rounding). Two layers at least 0.8 similar share at least
-- 0.8 of each one's file bytes, so the first token they share (in that
-- order) has a tail of at least 0.8 of each one's file bytes: it is in both
-- prefixes. And all they share comes at or after it, so they share at most
-- the smaller of its two tails: a pair whose similarity is at least 0.8
-- shares at least 0.8 (a + b) / 1.8 of their file bytes a and b.
--
-- layer_pairs holds every pair of indexed layers at least 0.8 similar with
-- different diff_ids (one tar stored twice is a blob duplicate), found
-- from the new layers' prefixes and compared exactly from the arrays.
--
-- Called by layerq_apply_layer_keys (below) on a batch of the blobs the
-- ingest queued in layer_keys_queue with their indexes (migration 00027),
-- after their layer_files were committed; the calls take turns (an
-- advisory lock held to the end of the transaction), so two near-duplicate
-- layers see each other, in one batch or in two. A blob that already has
-- its keys is left as it is.
--
-- The tables grow from empty in a burst of indexing, before autovacuum has
-- counted their rows: planned on those statistics, the joins became scans
-- of a whole table in a loop (minutes for a few hundred layers). Each
-- lookup here is a subquery of its own (OFFSET 0 keeps the planner from
-- merging it), by an index whatever the statistics say.
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

-- layerq_apply_layer_keys: the keys and pairs of up to p_limit blobs of
-- layer_keys_queue, the first queued of those queued by p_upto (its seq)
-- that never failed, which then leave the queue; once none is left, one
-- that failed before, alone. A layer whose keys fail on its own data (a
-- data, integrity or limit error) goes to the end of the queue with its
-- error (attempts, last_error), and the others of its batch get theirs;
-- any other error fails the call. Says how many blobs it took from the
-- queue (fewer than p_limit: none is left by p_upto but those that
-- failed). Callers take turns on layerq_layer_keys' lock, taken here
-- before the batch is chosen, so a caller that waited takes what the one
-- before it left.
CREATE OR REPLACE FUNCTION layerq_apply_layer_keys(p_limit integer, p_upto bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    batch text[];
    d text;
BEGIN
    PERFORM pg_advisory_xact_lock(27761, 2);
    SELECT array_agg(q.blob_digest ORDER BY q.seq) INTO batch
    FROM (SELECT seq, blob_digest FROM layer_keys_queue WHERE seq <= p_upto AND attempts = 0 ORDER BY seq LIMIT p_limit) q;
    IF batch IS NULL THEN
        -- The head is done: one layer that failed before, tried again alone.
        SELECT array_agg(q.blob_digest) INTO batch
        FROM (SELECT blob_digest FROM layer_keys_queue WHERE seq <= p_upto AND attempts > 0 ORDER BY seq LIMIT 1) q;
        IF batch IS NULL THEN
            RETURN 0;
        END IF;
    END IF;
    BEGIN
        PERFORM layerq_layer_keys(batch);
        DELETE FROM layer_keys_queue WHERE blob_digest = ANY (batch);
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
        -- A layer's own data failed: one at a time, so the others get
        -- their keys and the one that fails goes to the end of the queue
        -- with its error.
        FOREACH d IN ARRAY batch LOOP
            BEGIN
                PERFORM layerq_layer_keys(ARRAY[d]);
                DELETE FROM layer_keys_queue WHERE blob_digest = d;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
                UPDATE layer_keys_queue
                SET seq = nextval(pg_get_serial_sequence('layer_keys_queue', 'seq')), attempts = attempts + 1, last_error = SQLERRM
                WHERE blob_digest = d;
            END;
        END LOOP;
    END;
    RETURN cardinality(batch);
END;
$$;
