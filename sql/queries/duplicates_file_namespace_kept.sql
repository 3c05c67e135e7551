-- name: DuplicatesFileNamespaceKept :one
-- duplicates --kind file of a selection that is one namespace's
-- repositories (selection_namespace.sql), as the fold keeps it per
-- namespace: the totals of its live indexed layers
-- (namespace_file_totals) and its live layers not indexed
-- (namespace_backlog); zeros for a namespace that holds none.
SELECT coalesce(t.layers, 0)::bigint AS layers,
    coalesce((SELECT b.unindexed FROM namespace_backlog b
              WHERE b.registry = sqlc.arg(registry)::text AND b.namespace = sqlc.arg(namespace)::text), 0)::bigint AS unindexed,
    coalesce(t.files, 0)::bigint AS files, coalesce(t.total_bytes, 0)::bigint AS total_bytes,
    coalesce(t.unique_files, 0)::bigint AS unique_files, coalesce(t.unique_bytes, 0)::bigint AS unique_bytes
FROM (SELECT) one
LEFT JOIN namespace_file_totals t ON t.registry = sqlc.arg(registry)::text AND t.namespace = sqlc.arg(namespace)::text;

-- name: DuplicatesFileTopNamespaceKept :many
-- The contents stored most often in one namespace's live indexed layers
-- (DuplicatesFileTopKept for one namespace), from its index. limit: how
-- many contents.
SELECT encode(digest, 'hex') AS digest, size, copies, layers::bigint AS layers, (size * (copies - 1))::bigint AS extra_bytes, sample_path
FROM namespace_file_contents
WHERE registry = sqlc.arg(registry)::text AND namespace = sqlc.arg(namespace)::text AND copies > 1 AND size > 0
ORDER BY size * (copies - 1) DESC, digest
LIMIT sqlc.arg('limit')::bigint;
