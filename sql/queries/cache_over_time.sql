-- name: CacheOverTime :many
-- Cache reuse per repository and month (UTC), from the rollups (view
-- cache_effective_monthly, whose pushes are builds compared with the build
-- before them), of the repositories listed, by repository id (the report
-- puts them in its order).
SELECT r.registry, r.name AS repository, m.month::timestamp AS month, m.pushes::bigint AS compared,
    m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
FROM cache_effective_monthly m JOIN repositories r ON r.id = m.repository_id
WHERE m.repository_id = ANY(sqlc.arg(repository_ids)::bigint[])
ORDER BY m.repository_id, m.month;
