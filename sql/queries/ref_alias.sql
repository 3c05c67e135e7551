-- name: RefAlias :many
-- The registries whose events have named them by host $1 (an alias the
-- registry's configuration does not list: see registry_aliases).
SELECT DISTINCT registry
FROM registry_aliases
WHERE lower(host) = lower($1)
ORDER BY registry;
