-- Cache reuse per repository over the pushes since $2 (view cache_history).
-- $1: repository regexp, NULL for all.
SELECT registry, repository, count(*), sum(reused_layers)::bigint, sum(total_layers)::bigint,
    sum(reused_bytes)::bigint, sum(total_bytes)::bigint
FROM cache_history
WHERE ($1::text IS NULL OR repository ~ $1) AND occurred_at >= $2
GROUP BY 1, 2
ORDER BY registry COLLATE "C", repository COLLATE "C"
