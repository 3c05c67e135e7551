-- Cache reuse per repository over its whole history (view
-- cache_effective_totals). $1: repository regexp, NULL for all.
SELECT r.registry, r.name, m.pushes::bigint, m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
FROM cache_effective_totals m JOIN repositories r ON r.id = m.repository_id
WHERE $1::text IS NULL OR r.name ~ $1
ORDER BY r.registry COLLATE "C", r.name COLLATE "C"
