-- name: SelectionNamespace :many
-- The registry and namespace whose repositories are exactly those matching
-- repository (a regexp) and registry ('' for any): every repository of one
-- namespace, and no other. No row when the selection is not one
-- namespace's. The reports read what the fold keeps per namespace for it;
-- shared_manifests: how many manifests are live in two or more of its
-- repositories (a sum over them counts those twice).
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
SELECT one.registry::text AS registry, one.namespace::text AS namespace,
    coalesce((SELECT u.shared_manifests FROM namespace_usage u WHERE u.registry = one.registry AND u.namespace = one.namespace), 0)::integer
        AS shared_manifests
FROM one
WHERE one.repositories = (SELECT count(*) FROM repositories x WHERE x.registry = one.registry AND layerq_namespace(x.name) = one.namespace);
