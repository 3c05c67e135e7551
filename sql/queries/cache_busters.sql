-- name: CacheBusters :many
-- The steps most often the first to change between a build and the build
-- before it, over the whole history (view cache_effective_steps, whose
-- pushes count those comparisons), with advice.
-- $1: repository regexp, NULL for all; $2: limit.
SELECT s.step, s.base_changed, sum(s.pushes)::bigint, count(DISTINCT s.repository_id),
    coalesce(layerq_cache_advice(s.step, CASE WHEN s.base_changed THEN 0 ELSE 1 END), '')
FROM cache_effective_steps s
WHERE $1::text IS NULL OR s.repository_id IN (SELECT id FROM repositories WHERE name ~ $1)
GROUP BY 1, 2
ORDER BY 3 DESC, 4 DESC, 1
LIMIT $2;
