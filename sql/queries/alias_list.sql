-- name: AliasList :many
-- Hosts seen for each registry, by registry then host.
SELECT registry, host, first_seen, last_seen, events
FROM registry_aliases
ORDER BY registry, host;
