-- name: StorageRegistries :many
-- Storage per registry (view storage_registries).
SELECT registry, images, logical_bytes, physical_bytes, coalesce(dedup_ratio, 0)
FROM storage_registries
ORDER BY registry;
