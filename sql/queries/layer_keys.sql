-- name: LayerKeysMayApply :one
-- Whether this role may work out the queued near-duplicate keys (a
-- read-only role such as layerq_reader may not), and whether the server is
-- a standby (nothing may be written there).
SELECT has_table_privilege('layer_keys_queue', 'DELETE') AS may_apply,
    pg_is_in_recovery() AS standby;

-- name: LayerKeysQueued :one
-- How many layer blobs wait for their near-duplicate keys, and the last
-- one queued (0: none).
SELECT count(*) AS queued, coalesce(max(seq), 0)::bigint AS last_seq FROM layer_keys_queue;

-- name: ApplyLayerKeys :one
-- The near-duplicate keys and pairs of up to @batch queued layer blobs,
-- first queued first, of those queued by @upto (sql/functions/layer_keys.sql);
-- how many it took from the queue.
SELECT layerq_apply_layer_keys(@batch::int, @upto::bigint)::int AS taken;

-- name: LayerKeysFailed :one
-- The queued layer blobs whose keys failed, and the first of them with
-- its last error ('' when none).
SELECT count(*) AS failed, coalesce(min(blob_digest), '')::text AS blob_digest,
    coalesce((SELECT last_error FROM layer_keys_queue WHERE attempts > 0 ORDER BY blob_digest LIMIT 1), '')::text AS last_error
FROM layer_keys_queue WHERE attempts > 0;
