-- name: GrowthDays :one
-- GrowthCounts over every repository at or after since, for min_bytes 1
-- and no gate: the whole days after since's from growth_days, since's own
-- day (from since on) from its comparisons.
WITH edge AS (
    SELECT ((sqlc.arg(since)::timestamptz AT TIME ZONE 'UTC')::date + 1) AS day
),
first_day AS (
    SELECT count(*) AS pushes, count(*) FILTER (WHERE t.total_bytes > t.from_bytes) AS grew
    FROM cache_transitions t, edge
    WHERE t.occurred_at >= sqlc.arg(since)::timestamptz AND t.occurred_at < (edge.day::timestamp AT TIME ZONE 'UTC')
      AND t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = t.repository_id)
                               THEN 'tag' ELSE 'created' END
),
later AS (
    SELECT coalesce(sum(g.pushes), 0) AS pushes, coalesce(sum(g.grew), 0) AS grew
    FROM growth_days g, edge WHERE g.day >= edge.day
)
SELECT (f.pushes + l.pushes)::bigint AS compared, (f.grew + l.grew)::bigint AS grew
FROM first_day f, later l;
