-- The cache reuse of the pushes since $2 (view cache_history) in one pass
-- over them: per repository ('repository'), per repository and month UTC
-- ('month'), and the $3 steps most often the first to change ('step'),
-- with advice. $1: repository regexp, NULL for all.
WITH w AS MATERIALIZED (
    SELECT registry, repository, date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS month,
        reused_layers, total_layers, reused_bytes, total_bytes, step, first_changed_position
    FROM cache_history
    WHERE ($1::text IS NULL OR repository ~ $1) AND occurred_at >= $2
),
steps AS (
    SELECT step, first_changed_position = 0 AS base_changed, count(*) AS pushes,
        count(DISTINCT (registry, repository)) AS repositories, min(first_changed_position) AS pos
    FROM w WHERE step IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 3 DESC, 4 DESC, 1
    LIMIT $3
)
SELECT 'repository' AS what, registry, repository, NULL::timestamp AS month, '' AS step, false AS base_changed,
    count(*) AS pushes, 0::bigint AS repositories, sum(reused_layers)::bigint, sum(total_layers)::bigint,
    sum(reused_bytes)::bigint, sum(total_bytes)::bigint, '' AS advice
FROM w GROUP BY registry, repository
UNION ALL
SELECT 'month', registry, repository, month, '', false, count(*), 0, sum(reused_layers)::bigint, sum(total_layers)::bigint,
    sum(reused_bytes)::bigint, sum(total_bytes)::bigint, ''
FROM w GROUP BY registry, repository, month
UNION ALL
SELECT 'step', '', '', NULL, step, base_changed, pushes, repositories, 0, 0, 0, 0,
    coalesce(layerq_cache_advice(step, pos), '')
FROM steps
