-- Two dashboard views read what the fold keeps instead of every live blob.
--
-- duplicate_blobs grouped every live blob of every registry by diff_id at
-- each refresh; a content stored under two blobs in a registry has two
-- live encodings in content_usage (00010), so only those contents are
-- grouped now, from content_usage's index. ingest_backlog counted every
-- live layer blob to find those not indexed; live_layer_blobs (00012)
-- marks them, so only those are read now (none, once everything is
-- indexed). Both give what they gave before, as of the last fold as
-- before.

-- +goose Up
CREATE INDEX live_layer_blobs_unindexed_idx ON live_layer_blobs (blob_digest) WHERE NOT indexed;

CREATE OR REPLACE VIEW duplicate_blobs AS
SELECT rb.registry, b.diff_id, count(*)::bigint AS encodings,
    sum(b.size)::bigint AS stored_bytes, (sum(b.size) - min(b.size))::bigint AS bytes_stored_twice,
    array_agg(b.digest ORDER BY b.size, b.digest) AS digests,
    array_agg(b.media_type ORDER BY b.size, b.digest) AS media_types
FROM content_usage cu
JOIN blobs b ON b.diff_id = cu.content
JOIN registry_blobs rb ON rb.digest = b.digest
WHERE cu.encodings > 1 AND rb.repositories > 0
GROUP BY rb.registry, b.diff_id
HAVING count(*) > 1;

CREATE OR REPLACE VIEW ingest_backlog AS
SELECT (SELECT count(*) FROM aggregate_queue)::bigint AS aggregate_changes,
    -- Foreign and non-distributable layers live outside the registry and
    -- are never indexed (as layers_pending.sql leaves them out).
    (SELECT count(*) FROM live_layer_blobs k
     JOIN blobs b ON b.digest = k.blob_digest
     WHERE NOT k.indexed
       AND b.media_type NOT LIKE '%foreign%' AND b.media_type NOT LIKE '%nondistributable%'
       AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = k.blob_digest))::bigint AS layers_pending;

-- +goose Down
CREATE OR REPLACE VIEW ingest_backlog AS
SELECT (SELECT count(*) FROM aggregate_queue)::bigint AS aggregate_changes,
    (SELECT count(*) FROM blob_usage u
     JOIN blobs b ON b.digest = u.digest
     WHERE u.manifests > 0 AND b.diff_id IS NOT NULL
       AND b.media_type NOT LIKE '%foreign%' AND b.media_type NOT LIKE '%nondistributable%'
       AND NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = u.digest)
       AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = u.digest))::bigint AS layers_pending;

CREATE OR REPLACE VIEW duplicate_blobs AS
SELECT rb.registry, b.diff_id, count(*)::bigint AS encodings,
    sum(b.size)::bigint AS stored_bytes, (sum(b.size) - min(b.size))::bigint AS bytes_stored_twice,
    array_agg(b.digest ORDER BY b.size, b.digest) AS digests,
    array_agg(b.media_type ORDER BY b.size, b.digest) AS media_types
FROM registry_blobs rb
JOIN blobs b ON b.digest = rb.digest
WHERE rb.repositories > 0 AND b.diff_id IS NOT NULL
GROUP BY rb.registry, b.diff_id
HAVING count(*) > 1;

DROP INDEX live_layer_blobs_unindexed_idx;
