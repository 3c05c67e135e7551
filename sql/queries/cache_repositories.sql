-- name: CacheRepositories :many
-- Cache reuse per repository over its whole history (view
-- cache_effective_totals, whose pushes are builds compared with the build
-- before them), with the builds its streams hold (cache_builds).
-- repository: repository regexp, NULL for all.
SELECT r.registry, r.name AS repository, m.stream_kind, coalesce(b.builds, 0)::bigint AS builds, m.pushes::bigint AS compared,
    m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
FROM cache_effective_totals m
JOIN repositories r ON r.id = m.repository_id
LEFT JOIN cache_builds b ON b.repository_id = m.repository_id AND b.stream_kind = m.stream_kind
WHERE sqlc.narg(repository)::text IS NULL OR r.name ~ sqlc.narg(repository)
ORDER BY r.registry COLLATE "C", r.name COLLATE "C";
