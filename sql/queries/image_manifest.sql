-- name: ImageManifest :one
-- One manifest's own facts (empty strings for what it does not say).
SELECT digest, media_type, size, kind, coalesce(config_digest, '') AS config_digest,
    coalesce(os, '') AS os, coalesce(architecture, '') AS architecture, coalesce(variant, '') AS variant, created,
    coalesce(artifact_type, '') AS artifact_type, coalesce(history_mismatch, '') AS history_mismatch, layer_count, layers_size
FROM manifests WHERE digest = sqlc.arg(digest);
