-- name: CacheRepositories :many
-- Cache reuse per repository over its whole history (view
-- cache_effective_totals, whose pushes are builds compared with the build
-- before them), with the builds its streams hold (cache_builds): the top
-- (0: all) repositories whose compared builds reused the fewest bytes of
-- theirs (the bytes their builds pushed anew), each row with the totals
-- over every matching repository. Only the listed rows are joined to their
-- names: the ranking keeps its ties (WITH TIES), then names break them.
-- repository: repository regexp, NULL for all.
WITH e AS (
    -- Every repository's effective row, or (a filter) the matching
    -- repositories' rows from the rollup's key: one branch runs.
    SELECT m.repository_id, m.stream_kind, m.pushes, m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
    FROM cache_effective_totals m
    WHERE sqlc.narg(repository)::text IS NULL
    UNION ALL
    SELECT m.repository_id, m.stream_kind, m.pushes, m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
    FROM cache_totals m
    LEFT JOIN cache_tagged_repositories x ON x.repository_id = m.repository_id
    WHERE sqlc.narg(repository)::text IS NOT NULL
      AND m.pushes > 0 AND m.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END
      AND m.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository))
),
total AS (
    SELECT count(*) AS repositories, sum(pushes)::bigint AS compared, sum(reused_layers)::bigint AS reused_layers,
        sum(total_layers)::bigint AS total_layers, sum(reused_bytes)::bigint AS reused_bytes, sum(total_bytes)::bigint AS total_bytes,
        (SELECT coalesce(sum(b.builds), 0) FROM e JOIN cache_builds b USING (repository_id, stream_kind))::bigint AS builds
    FROM e
),
top AS (
    SELECT * FROM e ORDER BY total_bytes - reused_bytes DESC
    FETCH FIRST (CASE WHEN sqlc.arg(top)::integer = 0 THEN 9223372036854775807 ELSE sqlc.arg(top)::integer END) ROWS WITH TIES
)
SELECT r.id AS repository_id, r.registry, r.name AS repository, t.stream_kind, coalesce(b.builds, 0)::bigint AS builds, t.pushes::bigint AS compared,
    t.reused_layers, t.total_layers, t.reused_bytes, t.total_bytes,
    a.repositories AS all_repositories, a.builds AS all_builds, a.compared AS all_compared, a.reused_layers AS all_reused_layers,
    a.total_layers AS all_total_layers, a.reused_bytes AS all_reused_bytes, a.total_bytes AS all_total_bytes
FROM top t
JOIN repositories r ON r.id = t.repository_id
LEFT JOIN cache_builds b ON b.repository_id = t.repository_id AND b.stream_kind = t.stream_kind
CROSS JOIN total a
ORDER BY t.total_bytes - t.reused_bytes DESC, r.registry COLLATE "C", r.name COLLATE "C"
LIMIT CASE WHEN sqlc.arg(top)::integer = 0 THEN NULL ELSE sqlc.arg(top)::integer END;
