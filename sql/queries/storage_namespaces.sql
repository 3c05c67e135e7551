-- name: StorageNamespaces :many
-- Storage per namespace (view storage_namespaces), largest physical first: the
-- first limit rows (0: all), each with how many match.
-- namespace: namespace regexp.
SELECT registry, namespace, images, logical_bytes, physical_bytes, unique_bytes, shared_bytes, count(*) OVER () AS matching
FROM storage_namespaces
WHERE namespace ~ sqlc.arg(namespace)::text
ORDER BY physical_bytes DESC, registry, namespace
LIMIT CASE WHEN sqlc.arg('limit')::integer = 0 THEN NULL ELSE sqlc.arg('limit')::integer END;
