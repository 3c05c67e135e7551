-- The steps most often the first to change between consecutive pushes,
-- over the whole history (view cache_history_steps), with advice.
-- $1: repository regexp, $2: limit.
SELECT step, base_changed, sum(pushes)::bigint, count(DISTINCT (registry, repository)),
    coalesce(layerq_cache_advice(step, CASE WHEN base_changed THEN 0 ELSE 1 END), '')
FROM cache_history_steps
WHERE repository ~ $1
GROUP BY 1, 2
ORDER BY 3 DESC, 4 DESC, 1
LIMIT $2
