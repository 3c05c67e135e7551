-- name: StorageRegistries :many
-- Storage per registry (view storage_registries); dedup_ratio is 0 when the
-- registry stores no bytes.
SELECT registry, images, logical_bytes, physical_bytes, coalesce(dedup_ratio, 0) AS dedup_ratio
FROM storage_registries
ORDER BY registry;
