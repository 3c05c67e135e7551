-- name: DuplicatesFileNamespaceBacklog :one
-- What the fold keeps for duplicates --kind file of one namespace: the
-- registry's indexed live layers (file_totals) and the namespace's live
-- layers with no index (namespace_backlog). With no layer indexed there is
-- no listing to read, and a namespace of a registry of a million images
-- would be probed blob by blob for none.
SELECT coalesce((SELECT layers FROM file_totals), 0)::bigint AS indexed_layers,
    coalesce((SELECT unindexed FROM namespace_backlog
              WHERE registry = sqlc.arg(registry)::text AND namespace = sqlc.arg(namespace)::text), 0)::bigint AS unindexed;
