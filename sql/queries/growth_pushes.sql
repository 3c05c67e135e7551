-- name: GrowthPushes :many
-- Pushes compared with the push before them in their stream (the streams
-- the cache report compares: a repository's tag streams once one of its
-- tags has moved, else its builds in created order), at or after since,
-- over every repository, that grew by at least min_bytes (compressed layer
-- bytes), most first: a page of limit, from the index on the growth.
SELECT t.id, r.registry, r.name AS repository, t.stream_kind, t.stream, t.platform, t.from_digest, t.to_digest, t.occurred_at,
    t.from_bytes, t.total_bytes AS to_bytes, t.base_moved, coalesce(t.base_from, '')::text AS base_from, coalesce(t.base_to, '')::text AS base_to
FROM cache_transitions t
JOIN repositories r ON r.id = t.repository_id
WHERE t.total_bytes - t.from_bytes >= sqlc.arg(min_bytes)::bigint
  AND t.occurred_at >= sqlc.arg(since)::timestamptz
  AND t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = t.repository_id)
                           THEN 'tag' ELSE 'created' END
ORDER BY t.total_bytes - t.from_bytes DESC, t.occurred_at DESC, t.id
LIMIT sqlc.arg('limit')::integer;
