-- name: DuplicatesFileNamespaceBacklog :one
-- What the fold keeps for duplicates --kind file of one namespace: the
-- indexed live layers of every registry the database holds (file_totals)
-- and the namespace's live layers with no index (namespace_backlog). With
-- no more indexed in all than the namespace has waiting (none, or a
-- registry being indexed), the namespace's listings are read from the
-- indexed side, not by probing each of its blobs (113,000 of them in a
-- registry of a million images).
SELECT coalesce((SELECT layers FROM file_totals), 0)::bigint AS indexed_layers,
    coalesce((SELECT unindexed FROM namespace_backlog
              WHERE registry = sqlc.arg(registry)::text AND namespace = sqlc.arg(namespace)::text), 0)::bigint AS unindexed;
