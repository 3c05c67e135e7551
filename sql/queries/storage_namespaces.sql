-- name: StorageNamespaces :many
-- Storage per namespace (view storage_namespaces), largest physical first.
-- $1: namespace regexp.
SELECT registry, namespace, images, logical_bytes, physical_bytes, unique_bytes, shared_bytes
FROM storage_namespaces
WHERE namespace ~ $1
ORDER BY physical_bytes DESC, registry, namespace;
