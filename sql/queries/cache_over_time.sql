-- name: CacheOverTime :many
-- Cache reuse per repository and month (UTC), from the rollups (view
-- cache_effective_monthly, whose pushes are builds compared with the build
-- before them), by repository id (the report sorts by name).
-- $1: repository regexp, NULL for all.
SELECT r.registry, r.name, m.month::timestamp, m.pushes::bigint, m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
FROM cache_effective_monthly m JOIN repositories r ON r.id = m.repository_id
WHERE $1::text IS NULL OR r.name ~ $1
ORDER BY m.repository_id, m.month;
