-- name: CacheBusters :many
-- The steps most often the first to change between a build and the build
-- before it, over the whole history, with advice: over every repository, a
-- page of what the fold keeps (cache_step_totals, 00020); for a filter,
-- the matching repositories' rows of the rollup (cache_steps), of the
-- stream kind their figures use. A repository's effective rows are of one
-- stream kind, and (repository, kind, step, base_changed) is cache_steps'
-- key: count(*) counts the repositories. repository: repository regexp,
-- NULL for all; limit: how many steps. One branch runs.
(SELECT s.step, s.base_changed, s.pushes AS busts, s.repositories::bigint AS repositories,
    coalesce(layerq_cache_advice(s.step, CASE WHEN s.base_changed THEN 0 ELSE 1 END), '')::text AS advice
 FROM cache_step_totals s
 WHERE sqlc.narg(repository)::text IS NULL AND s.pushes > 0
 ORDER BY s.pushes DESC, s.repositories DESC, s.step, s.base_changed
 LIMIT sqlc.arg('limit')::bigint)
UNION ALL
(SELECT m.step, m.base_changed, sum(m.pushes)::bigint, count(*),
    coalesce(layerq_cache_advice(m.step, CASE WHEN m.base_changed THEN 0 ELSE 1 END), '')::text
 FROM cache_steps m
 LEFT JOIN cache_tagged_repositories x ON x.repository_id = m.repository_id
 WHERE sqlc.narg(repository)::text IS NOT NULL
   AND m.pushes > 0 AND m.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END
   AND m.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository))
 GROUP BY 1, 2
 ORDER BY 3 DESC, 4 DESC, 1, 2
 LIMIT sqlc.arg('limit')::bigint)
ORDER BY 3 DESC, 4 DESC, 1, 2;
