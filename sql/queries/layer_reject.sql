-- name: LayerReject :exec
-- A layer blob that cannot be indexed; the same verdict again replaces the reason.
INSERT INTO layer_rejections (blob_digest, diff_id, registry, repository, class, reason)
VALUES ($1, nullif($2, ''), $3, $4, $5, $6)
ON CONFLICT (blob_digest) DO UPDATE
SET class = excluded.class, reason = excluded.reason, occurred_at = now();
