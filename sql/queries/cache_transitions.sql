-- name: CacheTransitions :many
-- Builds compared with the build before them in their stream (the streams
-- view cache_history shows), each repository's latest limit (0: all) at or
-- after since, oldest first, with the platform the later build's config
-- states, for the repositories listed, and whether the base moved (the
-- base builds; BuildNames names them).
SELECT r.registry, r.name AS repository, t.stream_kind, t.stream, t.platform,
    coalesce(layerq_platform(m.os, m.architecture, m.variant), '')::text AS config_platform, t.from_digest, t.to_digest, t.occurred_at,
    t.reused_layers, t.total_layers, t.reused_bytes, t.total_bytes, t.first_changed_position,
    coalesce(t.first_changed_step, '') AS first_changed_step, t.base_moved, coalesce(t.base_from, '') AS base_from,
    coalesce(t.base_to, '') AS base_to
FROM repositories r
LEFT JOIN cache_tagged_repositories x ON x.repository_id = r.id
CROSS JOIN LATERAL (
    SELECT t.id, t.stream_kind, t.stream, t.platform, t.from_digest, t.to_digest, t.occurred_at,
        t.reused_layers, t.total_layers, t.reused_bytes, t.total_bytes, t.first_changed_position, t.first_changed_step,
        t.base_moved, t.base_from, t.base_to
    FROM cache_transitions t
    WHERE t.repository_id = r.id AND t.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END
      AND t.occurred_at >= sqlc.arg(since)
    ORDER BY t.occurred_at DESC, t.id DESC
    LIMIT CASE WHEN sqlc.arg('limit')::integer = 0 THEN NULL ELSE sqlc.arg('limit')::integer END
) t
LEFT JOIN manifests m ON m.digest = t.to_digest
WHERE r.id = ANY(sqlc.arg(repository_ids)::bigint[])
ORDER BY r.id, t.occurred_at, t.id;
