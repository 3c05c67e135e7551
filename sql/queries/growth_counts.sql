-- name: GrowthCounts :one
-- Over the same pushes as GrowthPushes (before its min_bytes): how many
-- were compared, how many grew by at least min_bytes, and, for a CI gate,
-- how many grew by more than over_bytes (-1: not asked) or by more than
-- over_percent of the earlier push (-1: not asked).
SELECT count(*)::bigint AS compared,
    count(*) FILTER (WHERE t.total_bytes - t.from_bytes >= sqlc.arg(min_bytes)::bigint)::bigint AS grew,
    count(*) FILTER (WHERE sqlc.arg(over_bytes)::bigint >= 0 AND t.total_bytes - t.from_bytes > sqlc.arg(over_bytes)::bigint)::bigint AS over_bytes,
    count(*) FILTER (WHERE sqlc.arg(over_percent)::float8 >= 0
                       AND (t.total_bytes - t.from_bytes)::float8 * 100 > sqlc.arg(over_percent)::float8 * t.from_bytes)::bigint AS over_percent
FROM cache_transitions t
WHERE t.occurred_at >= sqlc.arg(since)::timestamptz
  AND t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = t.repository_id)
                           THEN 'tag' ELSE 'created' END;
