-- Cache reuse per repository and month (UTC), from the rollups.
-- $1: repository regexp.
SELECT registry, repository, month::timestamp, pushes::bigint, reused_layers, total_layers, reused_bytes, total_bytes
FROM cache_history_monthly
WHERE repository ~ $1
ORDER BY 1, 2, 3
