-- name: LayerReject :exec
-- A layer blob that cannot be indexed (an empty diff_id is stored as NULL);
-- the same verdict again replaces the reason.
INSERT INTO layer_rejections (blob_digest, diff_id, registry, repository, class, reason)
VALUES (@blob_digest, nullif(@diff_id::text, ''), @registry, @repository, @class, @reason)
ON CONFLICT (blob_digest) DO UPDATE
SET class = excluded.class, reason = excluded.reason, occurred_at = now();
