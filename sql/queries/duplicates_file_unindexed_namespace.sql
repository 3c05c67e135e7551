-- name: DuplicatesFileUnindexedNamespace :one
-- The live layers a namespace holds with no file index, as the fold keeps
-- them (namespace_backlog); 0 when it holds none.
SELECT coalesce((SELECT unindexed FROM namespace_backlog
                 WHERE registry = sqlc.arg(registry)::text AND namespace = sqlc.arg(namespace)::text), 0)::bigint AS unindexed;
