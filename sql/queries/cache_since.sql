-- name: CacheSince :many
-- The cache reuse of the builds compared at or after since (the comparisons
-- view cache_history shows) in one pass over them, each row saying what it
-- is: per repository ('repository', the top (0: all) repositories whose
-- compared builds pushed the most bytes anew, with the builds their streams
-- gained in the window: each tag push per platform for tag streams, each
-- image built in it for created streams), the same summed over every
-- repository ('total'), per listed repository and month UTC ('month'), and
-- the steps most often the first to change, the top busters of them
-- ('step'), with advice; each kind in its order. Everything is keyed by
-- repository id and counted in one grouping: estimates over a window are
-- poor, and a join between two groupings became a nested loop. repository:
-- repository regexp, NULL for all.
WITH w AS MATERIALIZED (
    SELECT t.repository_id, t.stream_kind, date_trunc('month', t.occurred_at AT TIME ZONE 'UTC') AS month,
        t.reused_layers, t.total_layers, t.reused_bytes, t.total_bytes, t.step, t.first_changed_position, t.base_moved
    FROM cache_transitions t
    LEFT JOIN cache_tagged_repositories x ON x.repository_id = t.repository_id
    WHERE t.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END
      AND t.occurred_at >= sqlc.arg(since)::timestamp with time zone
      AND (sqlc.narg(repository)::text IS NULL OR t.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository)::text))
),
builds AS (
    -- Each tag push's builds (per platform), as the fold counted them,
    -- for a repository a tag of which moved; else each image built in the
    -- window (of the repositories with builds compared in it: those are
    -- few). Repositories with no build compared drop out below.
    SELECT p.repository_id, p.builds::bigint AS builds
    FROM cache_push_builds p
    JOIN cache_tagged_repositories x ON x.repository_id = p.repository_id
    WHERE p.occurred_at >= sqlc.arg(since)::timestamp with time zone
    UNION ALL
    SELECT rm.repository_id, 1
    FROM (SELECT DISTINCT repository_id FROM w WHERE stream_kind = 'created') c
    JOIN repository_manifests rm ON rm.repository_id = c.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
    WHERE layerq_built_at(m.created, rm.first_seen) >= sqlc.arg(since)::timestamp with time zone
),
repos AS MATERIALIZED (
    SELECT g.repository_id, g.stream_kind, g.builds, g.compared, g.reused_layers, g.total_layers, g.reused_bytes, g.total_bytes, r.registry, r.name,
        row_number() OVER (ORDER BY g.total_bytes - g.reused_bytes DESC, r.registry COLLATE "C", r.name COLLATE "C") AS rank
    FROM (
        SELECT repository_id, min(stream_kind) AS stream_kind, sum(builds)::bigint AS builds, sum(compared)::bigint AS compared,
            sum(reused_layers)::bigint AS reused_layers, sum(total_layers)::bigint AS total_layers,
            sum(reused_bytes)::bigint AS reused_bytes, sum(total_bytes)::bigint AS total_bytes
        FROM (
            SELECT repository_id, stream_kind, 0::bigint AS builds, 1 AS compared, reused_layers, total_layers, reused_bytes, total_bytes FROM w
            UNION ALL
            SELECT repository_id, NULL, builds, 0, 0, 0, 0, 0 FROM builds
        ) u
        GROUP BY repository_id
        HAVING sum(compared) > 0
    ) g
    JOIN repositories r ON r.id = g.repository_id
),
listed AS (
    SELECT repository_id, stream_kind, builds, compared, reused_layers, total_layers, reused_bytes, total_bytes, registry, name, rank
    FROM repos WHERE sqlc.arg(top)::integer = 0 OR rank <= sqlc.arg(top)::integer
),
steps AS (
    SELECT step, first_changed_position = 0 OR base_moved AS base_changed, count(*) AS compared,
        count(DISTINCT repository_id) AS repositories
    FROM w WHERE step IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 3 DESC, 4 DESC, 1, 2
    LIMIT sqlc.arg(busters)::bigint
)
-- Each kind of row in its order: repositories by rank, months by month,
-- steps most busts first.
SELECT 'repository' AS what, l.repository_id, l.registry, l.name AS repository, l.stream_kind::text AS stream_kind, NULL::timestamp AS month,
    '' AS step, false AS base_changed, l.builds, l.compared, 0::bigint AS repositories, l.reused_layers, l.total_layers,
    l.reused_bytes, l.total_bytes, '' AS advice, l.rank
FROM listed l
UNION ALL
SELECT 'total', 0, '', '', '', NULL, '', false, coalesce(sum(builds), 0)::bigint, coalesce(sum(compared), 0)::bigint, count(*),
    coalesce(sum(reused_layers), 0)::bigint, coalesce(sum(total_layers), 0)::bigint, coalesce(sum(reused_bytes), 0)::bigint,
    coalesce(sum(total_bytes), 0)::bigint, '', 0::bigint
FROM repos
UNION ALL
SELECT 'month', 0, l.registry, l.name, '', w.month, '', false, 0, count(*), 0, sum(w.reused_layers)::bigint, sum(w.total_layers)::bigint,
    sum(w.reused_bytes)::bigint, sum(w.total_bytes)::bigint, '', l.rank
FROM w JOIN listed l USING (repository_id)
GROUP BY l.registry, l.name, l.rank, w.month
UNION ALL
SELECT 'step', 0, '', '', '', NULL, step, base_changed, 0, compared, repositories, 0, 0, 0, 0,
    coalesce(layerq_cache_advice(step, CASE WHEN base_changed THEN 0 ELSE 1 END), ''), row_number() OVER (ORDER BY compared DESC, repositories DESC, step, base_changed)
FROM steps
ORDER BY 1, 17, 6;
