-- name: RefAlias :many
-- The registries whose events have named them by host (an alias the
-- registry's configuration does not list: see registry_aliases).
SELECT DISTINCT registry
FROM registry_aliases
WHERE lower(host) = lower(sqlc.arg(host)::text)
ORDER BY registry;
