-- name: CacheSince :many
-- The cache reuse of the builds compared at or after since (the comparisons
-- view cache_history shows), each row saying what it is: per repository
-- ('repository', the top (0: all) repositories whose compared builds
-- pushed the most bytes anew, with the builds their streams gained in the
-- window: each tag push per platform for tag streams, each image built in
-- it for created streams), the same summed over every repository
-- ('total'), per listed repository and month UTC ('month'), and the steps
-- most often the first to change, the top busters of them ('step'), with
-- advice; each kind in its order. A repository's figures come from
-- cache_days (two rows of it: its sums through its last day less those
-- through since's day) and the comparisons and pushes of since's own day
-- at or after since, so the window's length does not matter; the busters
-- and the listed repositories' months count the window's comparisons.
-- repository: repository regexp, NULL for all.
WITH k AS MATERIALIZED (
    -- The repositories looked at, each with the stream kind its figures
    -- use: tag once a tag of it moved, created before.
    SELECT r.id AS repository_id, r.registry, r.name,
        CASE WHEN EXISTS (SELECT FROM cache_tagged_repositories x WHERE x.repository_id = r.id) THEN 'tag' ELSE 'created' END AS stream_kind
    FROM repositories r
    WHERE sqlc.narg(repository)::text IS NULL OR r.name ~ sqlc.narg(repository)::text
),
late AS (
    -- The days after since's own (UTC), from cache_days: the sums through
    -- each repository's last day less those through since's day.
    SELECT k.repository_id, l.through_compared - coalesce(e.through_compared, 0) AS compared,
        l.through_reused_layers - coalesce(e.through_reused_layers, 0) AS reused_layers,
        l.through_total_layers - coalesce(e.through_total_layers, 0) AS total_layers,
        l.through_reused_bytes - coalesce(e.through_reused_bytes, 0) AS reused_bytes,
        l.through_total_bytes - coalesce(e.through_total_bytes, 0) AS total_bytes,
        l.through_builds - coalesce(e.through_builds, 0) AS builds
    FROM k
    JOIN LATERAL (
        SELECT c.day, c.through_compared, c.through_reused_layers, c.through_total_layers, c.through_reused_bytes,
            c.through_total_bytes, c.through_builds
        FROM cache_days c WHERE c.repository_id = k.repository_id AND c.stream_kind = k.stream_kind
        ORDER BY c.day DESC LIMIT 1
    ) l ON l.day > (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date
    LEFT JOIN LATERAL (
        SELECT c.through_compared, c.through_reused_layers, c.through_total_layers, c.through_reused_bytes,
            c.through_total_bytes, c.through_builds
        FROM cache_days c WHERE c.repository_id = k.repository_id AND c.stream_kind = k.stream_kind
          AND c.day <= (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date
        ORDER BY c.day DESC LIMIT 1
    ) e ON true
),
first_day AS (
    -- Since's own day at or after since: its comparisons, and its tag
    -- pushes' builds.
    SELECT t.repository_id, 1 AS compared, t.reused_layers::bigint AS reused_layers, t.total_layers::bigint AS total_layers,
        t.reused_bytes, t.total_bytes, 0::bigint AS builds
    FROM cache_transitions t
    JOIN k ON k.repository_id = t.repository_id AND k.stream_kind = t.stream_kind
    WHERE t.occurred_at >= sqlc.arg(since)::timestamp with time zone
      AND t.occurred_at < ((sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date + 1) AT TIME ZONE 'UTC'
    UNION ALL
    SELECT p.repository_id, 0, 0, 0, 0, 0, p.builds
    FROM cache_push_builds p
    JOIN k ON k.repository_id = p.repository_id AND k.stream_kind = 'tag'
    WHERE p.occurred_at >= sqlc.arg(since)::timestamp with time zone
      AND p.occurred_at < ((sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date + 1) AT TIME ZONE 'UTC'
),
compared AS MATERIALIZED (
    -- The repositories with builds compared in the window.
    SELECT repository_id, sum(compared)::bigint AS compared, sum(reused_layers)::bigint AS reused_layers,
        sum(total_layers)::bigint AS total_layers, sum(reused_bytes)::bigint AS reused_bytes, sum(total_bytes)::bigint AS total_bytes,
        sum(builds)::bigint AS builds
    FROM (SELECT * FROM late UNION ALL SELECT * FROM first_day) u
    GROUP BY 1
    HAVING sum(compared) > 0
),
repos AS MATERIALIZED (
    -- Each with its builds: its tag pushes' (per platform), as the fold
    -- counted them, for a repository a tag of which moved; else each image
    -- built in the window (of the repositories with builds compared in it
    -- and no tag moved: those are few).
    SELECT c.repository_id, k.stream_kind,
        (c.builds + CASE WHEN k.stream_kind = 'created' THEN (
            SELECT count(*) FROM repository_manifests rm
            JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
            WHERE rm.repository_id = c.repository_id
              AND CASE WHEN m.created >= '1980-01-01' THEN m.created ELSE rm.first_seen END >= sqlc.arg(since)::timestamp with time zone
        ) ELSE 0 END)::bigint AS builds,
        c.compared, c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, k.registry, k.name,
        row_number() OVER (ORDER BY c.total_bytes - c.reused_bytes DESC, k.registry COLLATE "C", k.name COLLATE "C") AS rank
    FROM compared c JOIN k USING (repository_id)
),
listed AS (
    SELECT repository_id, stream_kind, builds, compared, reused_layers, total_layers, reused_bytes, total_bytes, registry, name, rank
    FROM repos WHERE sqlc.arg(top)::integer = 0 OR rank <= sqlc.arg(top)::integer
),
steps AS (
    SELECT t.step, t.first_changed_position = 0 OR t.base_moved AS base_changed, count(*) AS compared,
        count(DISTINCT t.repository_id) AS repositories
    FROM cache_transitions t
    JOIN k ON k.repository_id = t.repository_id AND k.stream_kind = t.stream_kind
    WHERE t.occurred_at >= sqlc.arg(since)::timestamp with time zone AND t.step IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 3 DESC, 4 DESC, 1
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
SELECT 'month', 0, l.registry, l.name, '', date_trunc('month', t.occurred_at AT TIME ZONE 'UTC'), '', false, 0, count(*), 0,
    sum(t.reused_layers)::bigint, sum(t.total_layers)::bigint, sum(t.reused_bytes)::bigint, sum(t.total_bytes)::bigint, '', l.rank
FROM listed l
JOIN cache_transitions t ON t.repository_id = l.repository_id AND t.stream_kind = l.stream_kind
 AND t.occurred_at >= sqlc.arg(since)::timestamp with time zone
GROUP BY l.registry, l.name, l.rank, 6
UNION ALL
SELECT 'step', 0, '', '', '', NULL, step, base_changed, 0, compared, repositories, 0, 0, 0, 0,
    coalesce(layerq_cache_advice(step, CASE WHEN base_changed THEN 0 ELSE 1 END), ''), row_number() OVER (ORDER BY compared DESC, repositories DESC, step)
FROM steps
ORDER BY 1, 17, 6;
