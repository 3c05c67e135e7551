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
FROM cache_effective_steps s
WHERE sqlc.narg(repository)::text IS NULL OR s.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository))
GROUP BY 1, 2
ORDER BY 3 DESC, 4 DESC, 1
LIMIT sqlc.arg('limit')::bigint;
