-- name: BloatBacklogNamespace :many
-- What bloat_backlog.sql counts, for a selection that is one namespace's
-- repositories (every repository of one registry and namespace, and no
-- other), from what the fold keeps: the live layers the namespace holds
-- with no file index (namespace_backlog), less those the file index
-- refused, which count apart (as bloat_backlog_kept.sql over the
-- registry). No row when the repositories matching repository (a regexp)
-- and registry ('' for any) are not one namespace's.
WITH sel AS (
    SELECT registry, layerq_namespace(name) AS namespace
    FROM repositories
    WHERE name ~ sqlc.arg(repository)::text AND (sqlc.arg(registry)::text = '' OR registry = sqlc.arg(registry))
),
one AS (
    SELECT min(registry) AS registry, min(namespace) AS namespace, count(*) AS repositories
    FROM sel
    HAVING min(registry) = max(registry) AND min(namespace) = max(namespace)
)
SELECT (coalesce(b.unindexed, 0) - r.unindexed)::bigint AS unindexed, r.rejected::bigint AS rejected
FROM one
LEFT JOIN namespace_backlog b ON b.registry = one.registry AND b.namespace = one.namespace
CROSS JOIN LATERAL (
    SELECT count(*) AS rejected, count(*) FILTER (WHERE NOT k.indexed) AS unindexed
    FROM layer_rejections lr
    JOIN live_layer_blobs k ON k.blob_digest = lr.blob_digest
    JOIN namespace_blobs nb ON nb.registry = one.registry AND nb.namespace = one.namespace AND nb.digest = lr.blob_digest
    WHERE nb.refs > 0
) r
WHERE one.repositories = (SELECT count(*) FROM repositories x WHERE x.registry = one.registry AND layerq_namespace(x.name) = one.namespace);
