-- name: GrowthCountsIn :one
-- GrowthCounts over the pushes of GrowthPushesIn: each selected
-- repository's comparisons of the stream kind its figures use, read from
-- the index on their growth alone.
SELECT count(*)::bigint AS compared,
    count(*) FILTER (WHERE t.total_bytes - t.from_bytes >= sqlc.arg(min_bytes)::bigint)::bigint AS grew,
    count(*) FILTER (WHERE sqlc.arg(over_bytes)::bigint >= 0 AND t.total_bytes - t.from_bytes > sqlc.arg(over_bytes)::bigint)::bigint AS over_bytes,
    count(*) FILTER (WHERE sqlc.arg(over_percent)::float8 >= 0
                       AND (t.total_bytes - t.from_bytes)::float8 * 100 > sqlc.arg(over_percent)::float8 * t.from_bytes)::bigint AS over_percent
FROM repositories r
JOIN cache_transitions t ON t.repository_id = r.id
WHERE r.name ~ sqlc.arg(repository)::text
  AND t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = r.id)
                           THEN 'tag' ELSE 'created' END
  AND t.occurred_at >= sqlc.arg(since)::timestamptz;
