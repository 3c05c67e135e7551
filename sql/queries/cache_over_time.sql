-- Cache reuse per repository and day (UTC). $1: repository regexp, $2: since.
SELECT registry, repository, date_trunc('day', occurred_at AT TIME ZONE 'UTC') AS day, count(*),
    sum(reused_layers)::bigint, sum(total_layers)::bigint, sum(reused_bytes)::bigint, sum(total_bytes)::bigint
FROM cache_history
WHERE repository ~ $1 AND occurred_at >= $2
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
