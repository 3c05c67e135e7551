-- name: CacheOverTime :many
-- Cache reuse per repository and month (UTC), from the rollups (view
-- cache_effective_monthly, whose pushes are builds compared with the build
-- before them), by repository id (the report sorts by name).
-- repository: repository regexp, NULL for all.
SELECT r.registry, r.name AS repository, m.month::timestamp AS month, m.pushes::bigint AS compared,
    m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
FROM cache_effective_monthly m JOIN repositories r ON r.id = m.repository_id
WHERE sqlc.narg(repository)::text IS NULL OR r.name ~ sqlc.narg(repository)
ORDER BY m.repository_id, m.month;
