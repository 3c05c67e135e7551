-- name: StorageNamespaces :many
-- Storage per namespace (view storage_namespaces), largest physical first.
-- namespace: namespace regexp.
SELECT registry, namespace, images, logical_bytes, physical_bytes, unique_bytes, shared_bytes
FROM storage_namespaces
WHERE namespace ~ sqlc.arg(namespace)::text
ORDER BY physical_bytes DESC, registry, namespace;
