-- Cache reuse per repository and month (UTC) over the pushes since $2.
-- $1: repository regexp, NULL for all.
SELECT registry, repository, date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS month, count(*),
    sum(reused_layers)::bigint, sum(total_layers)::bigint, sum(reused_bytes)::bigint, sum(total_bytes)::bigint
FROM cache_history
WHERE ($1::text IS NULL OR repository ~ $1) AND occurred_at >= $2
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
