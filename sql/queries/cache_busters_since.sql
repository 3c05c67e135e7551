-- The steps most often the first to change between consecutive pushes
-- since $2, with advice. $1: repository regexp (NULL for all), $3: limit.
SELECT step, first_changed_position = 0, count(*), count(DISTINCT (registry, repository)),
    coalesce(layerq_cache_advice(step, min(first_changed_position)), '')
FROM cache_history
WHERE ($1::text IS NULL OR repository ~ $1) AND occurred_at >= $2 AND step IS NOT NULL
GROUP BY 1, 2
ORDER BY 3 DESC, 4 DESC, 1
LIMIT $3
