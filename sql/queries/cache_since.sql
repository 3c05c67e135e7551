-- name: CacheSince :many
-- The cache reuse of the builds compared at or after since (view
-- cache_history) in one pass over them, each row saying what it is: per
-- repository ('repository', with the builds its streams gained in the
-- window: each tag push per platform for tag streams, each image built in it
-- for created streams), per repository and month UTC ('month'), and the
-- steps most often the first to change, the top busters of them ('step'),
-- with advice (the report ranks the repositories and lists the top ones).
-- repository: repository regexp, NULL for all.
WITH w AS MATERIALIZED (
    SELECT registry, repository, stream_kind, date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS month,
        reused_layers, total_layers, reused_bytes, total_bytes, step, first_changed_position
    FROM cache_history
    WHERE (sqlc.narg(repository)::text IS NULL OR repository ~ sqlc.narg(repository)::text)
      AND occurred_at >= sqlc.arg(since)::timestamp with time zone
),
listed AS (
    SELECT DISTINCT r.id, w.registry, w.repository, w.stream_kind
    FROM w JOIN repositories r ON r.registry = w.registry AND r.name = w.repository
),
pushes AS (
    SELECT l.registry, l.repository, e.id, e.manifest_digest
    FROM listed l
    JOIN tag_events e ON e.repository_id = l.id AND e.action = 'push' AND e.occurred_at >= sqlc.arg(since)::timestamp with time zone
    WHERE l.stream_kind = 'tag'
),
builds AS (
    -- What layerq_stream_images counts, for many pushes at once: a pushed
    -- image, or the platforms of a pushed index's image children.
    SELECT p.registry, p.repository, count(*) AS builds
    FROM pushes p JOIN manifests m ON m.digest = p.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
    GROUP BY 1, 2
    UNION ALL
    SELECT p.registry, p.repository, count(DISTINCT (p.id, layerq_platform(c.os, c.architecture, c.variant)))
    FROM pushes p
    JOIN index_children c ON c.index_digest = p.manifest_digest AND coalesce(c.os, '') <> 'unknown'
    JOIN manifests m ON m.digest = c.child_digest AND m.kind = 'image' AND m.layer_count > 0
    GROUP BY 1, 2
    UNION ALL
    SELECT l.registry, l.repository, count(*)
    FROM listed l
    JOIN repository_manifests rm ON rm.repository_id = l.id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
    WHERE l.stream_kind = 'created'
      AND CASE WHEN m.created >= '1980-01-01' THEN m.created ELSE rm.first_seen END >= sqlc.arg(since)::timestamp with time zone
    GROUP BY 1, 2
),
steps AS (
    SELECT step, first_changed_position = 0 AS base_changed, count(*) AS compared,
        count(DISTINCT (registry, repository)) AS repositories, min(first_changed_position) AS pos
    FROM w WHERE step IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 3 DESC, 4 DESC, 1
    LIMIT sqlc.arg(busters)::bigint
)
SELECT 'repository' AS what, r.id AS repository_id, g.registry, g.repository, g.stream_kind::text AS stream_kind, NULL::timestamp AS month, '' AS step, false AS base_changed,
    coalesce(b.builds, 0)::bigint AS builds, g.compared, 0::bigint AS repositories, g.reused_layers, g.total_layers,
    g.reused_bytes, g.total_bytes, '' AS advice
FROM (
    SELECT registry, repository, min(stream_kind) AS stream_kind, count(*) AS compared, sum(reused_layers)::bigint AS reused_layers,
        sum(total_layers)::bigint AS total_layers, sum(reused_bytes)::bigint AS reused_bytes, sum(total_bytes)::bigint AS total_bytes
    FROM w GROUP BY registry, repository
) g
JOIN repositories r ON r.registry = g.registry AND r.name = g.repository
LEFT JOIN (SELECT registry, repository, sum(builds) AS builds FROM builds GROUP BY 1, 2) b ON b.registry = g.registry AND b.repository = g.repository
UNION ALL
SELECT 'month', 0, registry, repository, '', month, '', false, 0, count(*), 0, sum(reused_layers)::bigint, sum(total_layers)::bigint,
    sum(reused_bytes)::bigint, sum(total_bytes)::bigint, ''
FROM w GROUP BY registry, repository, month
UNION ALL
SELECT 'step', 0, '', '', '', NULL, step, base_changed, 0, compared, repositories, 0, 0, 0, 0,
    coalesce(layerq_cache_advice(step, pos), '')
FROM steps;
