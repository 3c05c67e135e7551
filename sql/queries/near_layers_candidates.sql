-- name: NearLayersCandidates :many
-- duplicates --kind layer: for each given layer (a page of the walk), the
-- live indexed layers after it in the walk (file_bytes, blob_digest
-- descending) that can be at least min_similarity (>= 0.8) similar to it,
-- with the most bytes the two can share (bound):
--   - their prefixes at min_similarity share a key (layer_prefix_keys,
--     sql/functions/layer_keys.sql), and it holds at least min_similarity
--     of its file bytes;
--   - the files they share all come at or after the first shared key in
--     the prefixes' order, so they share at most the smaller of the two
--     tails there (the largest tails of the keys they share), and a pair
--     at similarity t shares at least t (a + b) / (1 + t) of their file
--     bytes a and b;
--   - they have different diff_ids (one tar stored twice is a blob
--     duplicate, not a near one).
-- The bounds give a byte of slack for rounding: a candidate too many is
-- compared and dropped.
WITH p AS (SELECT @min_similarity::float8 AS t),
shared AS (
    SELECT a.blob_digest AS layer, a.file_bytes AS layer_bytes, pc.blob_digest AS candidate, pc.file_bytes,
        least(max(pa.tail_bytes), max(pc.tail_bytes))::bigint AS bound, max(p.t)::float8 AS t
    FROM p
    JOIN layer_file_keys a ON a.blob_digest = ANY (@layers::text[])
    JOIN layer_prefix_keys pa ON pa.blob_digest = a.blob_digest AND pa.tail_bytes >= p.t * a.file_bytes - 1
    JOIN layer_prefix_keys pc ON pc.key = pa.key
        AND pc.file_bytes >= p.t * a.file_bytes - 1 AND pc.file_bytes <= a.file_bytes
    WHERE (pc.file_bytes, pc.blob_digest) < (a.file_bytes, a.blob_digest)
        AND pc.tail_bytes >= p.t * pc.file_bytes - 1
    GROUP BY a.blob_digest, a.file_bytes, pc.blob_digest, pc.file_bytes
)
SELECT s.layer, s.candidate, s.file_bytes, s.bound
FROM shared s
WHERE s.bound >= s.t * (s.layer_bytes + s.file_bytes) / (1 + s.t) - 1
    AND EXISTS (SELECT FROM live_layer_blobs l JOIN blobs b ON b.digest = l.blob_digest
                WHERE l.blob_digest = s.candidate AND b.diff_id IS NOT NULL)
    AND NOT EXISTS (SELECT FROM layer_indexes la JOIN layer_indexes lc ON lc.diff_id = la.diff_id
                    WHERE la.blob_digest = s.layer AND lc.blob_digest = s.candidate);
