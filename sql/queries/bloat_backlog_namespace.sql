-- name: BloatBacklogNamespace :one
-- What bloat_backlog.sql counts, for a selection that is one namespace's
-- repositories (selection_namespace.sql), from what the fold keeps: the
-- live layers the namespace holds with no file index (namespace_backlog),
-- less those the file index refused, which count apart (as
-- bloat_backlog_kept.sql over the registry).
SELECT (coalesce((SELECT b.unindexed FROM namespace_backlog b WHERE b.registry = sqlc.arg(registry)::text AND b.namespace = sqlc.arg(namespace)::text), 0)
        - r.unindexed)::bigint AS unindexed,
    r.rejected::bigint AS rejected
FROM (
    SELECT count(*) AS rejected, count(*) FILTER (WHERE NOT k.indexed) AS unindexed
    FROM layer_rejections lr
    JOIN live_layer_blobs k ON k.blob_digest = lr.blob_digest
    JOIN namespace_blobs nb ON nb.registry = sqlc.arg(registry)::text AND nb.namespace = sqlc.arg(namespace)::text
        AND nb.digest = lr.blob_digest
    WHERE nb.refs > 0
) r;
