-- Consecutive pushes (view cache_history), the latest $3 per repository
-- ($3 = 0: all), oldest first. $1: repository regexp, $2: since.
SELECT h.registry, h.repository, h.stream_kind, h.stream, h.platform, h.from_digest, h.to_digest, h.occurred_at,
    h.reused_layers, h.total_layers, h.reused_bytes, h.total_bytes, h.first_changed_position,
    coalesce(h.first_changed_step, ''), coalesce(layerq_cache_advice(h.step, h.first_changed_position), '')
FROM (
    SELECT h.*, row_number() OVER (PARTITION BY h.registry, h.repository ORDER BY h.occurred_at DESC, h.id DESC) AS n
    FROM cache_history h
    WHERE h.repository ~ $1 AND h.occurred_at >= $2
) h
WHERE $3 = 0 OR h.n <= $3
ORDER BY h.registry, h.repository, h.occurred_at, h.id
