-- name: GrowthPushesIn :many
-- GrowthPushes in the repositories matching repository (a regexp): a page
-- of each one's comparisons of the stream kind its figures use, from its
-- own part of the index on their growth (the index alone), then the page
-- of those, read in full.
WITH page AS (
    SELECT p.id, p.growth, p.occurred_at
    FROM repositories r
    CROSS JOIN LATERAL (
        SELECT c.id, c.total_bytes - c.from_bytes AS growth, c.occurred_at
        FROM cache_transitions c
        WHERE c.repository_id = r.id
          AND c.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = r.id)
                                   THEN 'tag' ELSE 'created' END
          AND c.total_bytes - c.from_bytes >= sqlc.arg(min_bytes)::bigint
          AND c.occurred_at >= sqlc.arg(since)::timestamptz
        ORDER BY c.total_bytes - c.from_bytes DESC, c.occurred_at DESC, c.id
        LIMIT sqlc.arg('limit')::integer
    ) p
    WHERE r.name ~ sqlc.arg(repository)::text
    ORDER BY p.growth DESC, p.occurred_at DESC, p.id
    LIMIT sqlc.arg('limit')::integer
)
SELECT t.id, r.registry, r.name AS repository, t.stream_kind, t.stream, t.platform, t.from_digest, t.to_digest, t.occurred_at,
    t.from_bytes, t.total_bytes AS to_bytes, t.base_moved, coalesce(t.base_from, '')::text AS base_from, coalesce(t.base_to, '')::text AS base_to
FROM page
JOIN cache_transitions t ON t.id = page.id
JOIN repositories r ON r.id = t.repository_id
ORDER BY page.growth DESC, page.occurred_at DESC, page.id;
