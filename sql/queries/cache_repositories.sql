-- Cache reuse per repository over its whole history, from the monthly
-- rollups (view cache_history_monthly). $1: repository regexp.
SELECT registry, repository, sum(pushes)::bigint, sum(reused_layers)::bigint, sum(total_layers)::bigint,
    sum(reused_bytes)::bigint, sum(total_bytes)::bigint
FROM cache_history_monthly
WHERE repository ~ $1
GROUP BY 1, 2
ORDER BY 1, 2
