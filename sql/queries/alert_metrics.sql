-- name: AlertStaleBases :many
-- Per base tag, the live images built on its stale builds (builds the tag
-- no longer names; view base_builds), most first.
SELECT r.registry, r.name AS repository, bb.base_tag::text AS tag, sum(bb.images)::bigint AS images
FROM base_builds bb
JOIN repositories r ON r.id = bb.base_repository_id
WHERE bb.stale
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2, 3
LIMIT sqlc.arg(n)::integer;

-- name: AlertLastGrowth :many
-- Per repository, the growth of its last push compared at or after since
-- (in the streams the growth report compares): compressed bytes, and the
-- percent of the push before; the n that grew most.
SELECT * FROM (
SELECT DISTINCT ON (t.repository_id) r.registry, r.name AS repository,
    (t.total_bytes - t.from_bytes)::bigint AS delta_bytes,
    CASE WHEN t.from_bytes > 0 THEN (t.total_bytes - t.from_bytes)::float8 * 100 / t.from_bytes ELSE 0 END::float8 AS delta_percent
FROM cache_transitions t
JOIN repositories r ON r.id = t.repository_id
WHERE t.occurred_at >= sqlc.arg(since)::timestamptz
  AND t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = t.repository_id)
                           THEN 'tag' ELSE 'created' END
ORDER BY t.repository_id, t.occurred_at DESC, t.id DESC
) last
ORDER BY last.delta_bytes DESC, last.registry, last.repository
LIMIT sqlc.arg(n)::integer;
