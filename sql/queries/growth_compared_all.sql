-- name: GrowthComparedAll :one
-- The pushes compared with the push before them over every repository's
-- whole history, from the cache rollups (what GrowthCounts counts without
-- a window or filter, without reading every comparison).
SELECT coalesce(sum(pushes), 0)::bigint AS compared FROM cache_effective_totals;
