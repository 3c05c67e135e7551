-- The ingest dashboard's backlog from what the fold keeps.
--
-- ingest_backlog counted the live layers not indexed by reading every one
-- of them (live_layer_blobs' unindexed rows, each joined to its blob for
-- its media type): 1.3 s at 100k images whose layers were not indexed yet,
-- on every refresh of two panels. The fold keeps that count
-- (file_totals.unindexed); what the view leaves out of it, the layers the
-- file index refused and those that live outside the registry (foreign,
-- non-distributable), are few, and read from the rejections and from a
-- partial index of those blobs.

-- +goose Up
CREATE INDEX blobs_external_idx ON blobs (digest) WHERE media_type LIKE '%foreign%' OR media_type LIKE '%nondistributable%';

CREATE OR REPLACE VIEW ingest_backlog AS
SELECT (SELECT count(*) FROM aggregate_queue)::bigint AS aggregate_changes,
    ((SELECT t.unindexed FROM file_totals t)
     - (SELECT count(*) FROM live_layer_blobs k
        WHERE NOT k.indexed AND k.blob_digest IN (
            SELECT lr.blob_digest FROM layer_rejections lr
            UNION
            SELECT b.digest FROM blobs b WHERE b.media_type LIKE '%foreign%' OR b.media_type LIKE '%nondistributable%')))::bigint AS layers_pending;

-- +goose Down
CREATE OR REPLACE VIEW ingest_backlog AS
SELECT (SELECT count(*) FROM aggregate_queue)::bigint AS aggregate_changes,
    (SELECT count(*) FROM live_layer_blobs k
     JOIN blobs b ON b.digest = k.blob_digest
     WHERE NOT k.indexed
       AND b.media_type NOT LIKE '%foreign%' AND b.media_type NOT LIKE '%nondistributable%'
       AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = k.blob_digest))::bigint AS layers_pending;
DROP INDEX blobs_external_idx;
