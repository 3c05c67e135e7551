-- Cache reuse per repository over its whole history (view
-- cache_history_totals). $1: repository regexp.
SELECT registry, repository, pushes::bigint, reused_layers, total_layers, reused_bytes, total_bytes
FROM cache_history_totals
WHERE repository ~ $1
ORDER BY 1, 2
