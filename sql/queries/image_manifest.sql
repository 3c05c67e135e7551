-- name: ImageManifest :one
-- One manifest's own facts.
SELECT digest, media_type, size, kind, coalesce(config_digest, ''),
    coalesce(os, ''), coalesce(architecture, ''), coalesce(variant, ''), created,
    coalesce(artifact_type, ''), coalesce(history_mismatch, ''), layer_count, layers_size
FROM manifests WHERE digest = $1;
