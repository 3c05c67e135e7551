-- name: LayerKeysMayApply :one
-- Whether this role may work out the queued near-duplicate keys (a
-- read-only role such as layerq_reader may not), and whether the server is
-- a standby (nothing may be written there).
SELECT has_table_privilege('layer_keys_queue', 'DELETE') AS may_apply,
    pg_is_in_recovery() AS standby;

-- name: ApplyLayerKeys :one
-- The near-duplicate keys and pairs of up to @batch queued layer blobs
-- (sql/functions/layer_keys.sql); how many it took.
SELECT layerq_apply_layer_keys(@batch::int)::int AS taken;
