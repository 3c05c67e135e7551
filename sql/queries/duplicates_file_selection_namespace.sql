-- name: DuplicatesFileSelectionNamespace :many
-- DuplicatesFileSelection for a selection that is one namespace's
-- repositories (selection_namespace.sql), from what the fold keeps per
-- namespace: its indexed layers (the live layer blobs namespace_blobs says
-- it holds), each once with its regular files. Those not indexed are
-- counted in namespace_backlog (DuplicatesFileUnindexedNamespace). Led by
-- whichever is fewer, the namespace's blobs or the indexed layers (a
-- registry scanned without --layers has none).
SELECT k.blob_digest::text AS blob_digest, li.files::integer AS files
FROM live_layer_blobs k
JOIN namespace_blobs nb ON nb.registry = sqlc.arg(registry)::text AND nb.namespace = sqlc.arg(namespace)::text
    AND nb.digest = k.blob_digest AND nb.refs > 0
JOIN layer_indexes li ON li.blob_digest = k.blob_digest
WHERE k.indexed;

-- name: DuplicatesFileUnindexedNamespace :one
-- The live layers a namespace holds with no file index, as the fold keeps
-- them (namespace_backlog); 0 when it holds none.
SELECT coalesce((SELECT unindexed FROM namespace_backlog
                 WHERE registry = sqlc.arg(registry)::text AND namespace = sqlc.arg(namespace)::text), 0)::bigint AS unindexed;
