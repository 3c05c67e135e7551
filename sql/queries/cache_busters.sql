-- name: CacheBusters :many
-- The steps most often the first to change between a build and the build
-- before it, over the whole history (view cache_effective_steps, whose
-- pushes count those comparisons), with advice.
-- A repository's effective rows are of one stream kind, and (repository,
-- kind, step, base_changed) is cache_steps' key: count(*) counts the
-- repositories. repository: repository regexp, NULL for all; limit: how many
-- steps.
SELECT s.step, s.base_changed, sum(s.pushes)::bigint AS busts, count(*) AS repositories,
    coalesce(layerq_cache_advice(s.step, CASE WHEN s.base_changed THEN 0 ELSE 1 END), '')::text AS advice
FROM (
    -- Every repository's effective rows, or (a filter) the matching
    -- repositories' rows from the rollup's key: one branch runs.
    SELECT e.step, e.base_changed, e.pushes
    FROM cache_effective_steps e
    WHERE sqlc.narg(repository)::text IS NULL
    UNION ALL
    SELECT m.step, m.base_changed, m.pushes
    FROM cache_steps m
    LEFT JOIN cache_tagged_repositories x ON x.repository_id = m.repository_id
    WHERE sqlc.narg(repository)::text IS NOT NULL
      AND m.pushes > 0 AND m.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END
      AND m.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository))
) s
GROUP BY 1, 2
ORDER BY 3 DESC, 4 DESC, 1
LIMIT sqlc.arg('limit')::bigint;
