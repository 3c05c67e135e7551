-- name: CacheSinceKept :many
-- CacheSince over every repository, from what the fold keeps (migration
-- 00032) rather than the window's comparisons: each repository's figures
-- in the window are its totals less its sums through the day before the
-- window (cache_window_days, a row per repository active then) and less
-- the comparisons and tag pushes of the window's first day before its
-- start; or, with late (the window starting in the second half of its
-- day: fewer of the day's rows to read), less its sums through the
-- window's first day and plus that day's part from the window's start.
-- A step's busts are those of the window's days (cache_step_days) less
-- or plus that part likewise, and its repositories those whose last bust
-- of it is in the window (cache_step_last_days, and cache_step_last for
-- the first day). The same rows, kinds and order as CacheSince; only the
-- listed repositories' months are read from their comparisons.
WITH part AS MATERIALIZED (
    -- The window's first day (UTC) before the window, or with late from
    -- its start: comparisons of the stream kind each repository's
    -- figures use, and tag pushes' builds.
    SELECT t.repository_id, t.step, t.first_changed_position = 0 OR t.base_moved AS base_changed, 1 AS compared,
        t.reused_layers::bigint AS reused_layers, t.total_layers::bigint AS total_layers, t.reused_bytes, t.total_bytes, 0::bigint AS builds
    FROM cache_transitions t
    WHERE t.occurred_at >= CASE WHEN sqlc.arg(late)::boolean THEN sqlc.arg(since)::timestamp with time zone
                               ELSE (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC' END
      AND t.occurred_at < CASE WHEN sqlc.arg(late)::boolean THEN ((sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
                              ELSE sqlc.arg(since)::timestamp with time zone END
      AND t.stream_kind = CASE WHEN EXISTS (SELECT FROM cache_tagged_repositories x WHERE x.repository_id = t.repository_id) THEN 'tag' ELSE 'created' END
    UNION ALL
    SELECT b.repository_id, NULL, false, 0, 0, 0, 0, 0, b.builds
    FROM cache_push_builds b
    WHERE b.occurred_at >= CASE WHEN sqlc.arg(late)::boolean THEN sqlc.arg(since)::timestamp with time zone
                               ELSE (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC' END
      AND b.occurred_at < CASE WHEN sqlc.arg(late)::boolean THEN ((sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
                              ELSE sqlc.arg(since)::timestamp with time zone END
      AND EXISTS (SELECT FROM cache_tagged_repositories x WHERE x.repository_id = b.repository_id)
),
-- Its sums per repository, signed: less the part before the window, plus
-- the part in it.
part_repos AS (
    SELECT repository_id, s * sum(compared) AS compared, s * sum(reused_layers) AS reused_layers, s * sum(total_layers) AS total_layers,
        s * sum(reused_bytes) AS reused_bytes, s * sum(total_bytes) AS total_bytes, s * sum(builds) AS builds
    FROM part, (SELECT CASE WHEN sqlc.arg(late)::boolean THEN 1 ELSE -1 END AS s) k
    GROUP BY repository_id, s
),
-- Each repository's figures in the window: its totals less its sums
-- through the day before the window's first (or through that day, with
-- late) and with that day's part.
win AS MATERIALIZED (
    SELECT t.repository_id, t.stream_kind,
        (t.compared - coalesce(d.compared, 0) + coalesce(e.compared, 0))::bigint AS compared,
        (t.reused_layers - coalesce(d.reused_layers, 0) + coalesce(e.reused_layers, 0))::bigint AS reused_layers,
        (t.total_layers - coalesce(d.total_layers, 0) + coalesce(e.total_layers, 0))::bigint AS total_layers,
        (t.reused_bytes - coalesce(d.reused_bytes, 0) + coalesce(e.reused_bytes, 0))::bigint AS reused_bytes,
        (t.total_bytes - coalesce(d.total_bytes, 0) + coalesce(e.total_bytes, 0))::bigint AS total_bytes,
        (t.builds - coalesce(d.builds, 0) + coalesce(e.builds, 0))::bigint AS builds
    FROM cache_window_totals t
    LEFT JOIN cache_window_days d ON d.day = (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date - CASE WHEN sqlc.arg(late)::boolean THEN 0 ELSE 1 END AND d.repository_id = t.repository_id
    LEFT JOIN part_repos e ON e.repository_id = t.repository_id
    WHERE t.last_day >= (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date
),
-- A repository of created streams gains the images built in the window
-- (as CacheSince counts them; those repositories are few).
created_builds AS (
    SELECT w.repository_id, count(*) AS builds
    FROM win w
    JOIN repository_manifests rm ON rm.repository_id = w.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
    WHERE w.stream_kind = 'created' AND w.compared > 0
      AND layerq_built_at(m.created, rm.first_seen) >= sqlc.arg(since)::timestamp with time zone
    GROUP BY 1
),
repos AS MATERIALIZED (
    SELECT w.repository_id, w.stream_kind, (w.builds + coalesce(c.builds, 0))::bigint AS builds, w.compared, w.reused_layers, w.total_layers,
        w.reused_bytes, w.total_bytes
    FROM win w
    LEFT JOIN created_builds c ON c.repository_id = w.repository_id
    WHERE w.compared > 0
),
-- The top by bytes, ties at the last place included (a bounded sort, not
-- a rank of every repository), then named and ordered as CacheSince
-- orders them: names only for those, each by its key.
listed AS MATERIALIZED (
    SELECT x.repository_id, x.stream_kind, x.builds, x.compared, x.reused_layers, x.total_layers, x.reused_bytes, x.total_bytes, r.registry, r.name,
        row_number() OVER (ORDER BY x.total_bytes - x.reused_bytes DESC, r.registry COLLATE "C", r.name COLLATE "C") AS rank
    FROM (
        SELECT * FROM repos
        ORDER BY total_bytes - reused_bytes DESC
        -- top 0: every one (WITH TIES takes no NULL count).
        FETCH FIRST (CASE WHEN sqlc.arg(top)::integer = 0 THEN 9223372036854775807 ELSE sqlc.arg(top)::integer END) ROWS WITH TIES
    ) x
    CROSS JOIN LATERAL (SELECT r.registry, r.name FROM repositories r WHERE r.id = x.repository_id) r
),
-- Each step's busts in the window: those of the window's days less the
-- first day's before the window (with late: those of the days after the
-- first, plus the first day's from the window's start), counted once per
-- step.
step_busts AS (
    SELECT step, base_changed, sum(busts) AS busts
    FROM (
        SELECT d.step, d.base_changed, d.busts FROM cache_step_days d
        WHERE d.day >= (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date + CASE WHEN sqlc.arg(late)::boolean THEN 1 ELSE 0 END
        UNION ALL
        SELECT e.step, e.base_changed, CASE WHEN sqlc.arg(late)::boolean THEN 1 ELSE -1 END FROM part e WHERE e.step IS NOT NULL
    ) u
    GROUP BY 1, 2
),
-- Each step's repositories whose last bust of it is in the window: those
-- of the window's whole days (cache_step_last_days) and those of its
-- first day from the window's start.
step_repositories AS (
    SELECT step, base_changed, sum(repositories) AS repositories
    FROM (
        SELECT d.step, d.base_changed, d.repositories FROM cache_step_last_days d
        WHERE d.day > (sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date
        UNION ALL
        SELECT l.step, l.base_changed, 1 FROM cache_step_last l
        WHERE l.last_at >= sqlc.arg(since)::timestamp with time zone
          AND l.last_at < (((sqlc.arg(since)::timestamp with time zone AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC')
    ) u
    GROUP BY 1, 2 HAVING sum(repositories) > 0
),
steps AS (
    SELECT l.step, l.base_changed, l.repositories::bigint AS repositories, coalesce(b.busts, 0)::bigint AS compared
    FROM step_repositories l
    LEFT JOIN step_busts b ON b.step = l.step AND b.base_changed = l.base_changed
    ORDER BY 4 DESC, 3 DESC, 1, 2
    LIMIT sqlc.arg(busters)::bigint
)
SELECT 'repository' AS what, l.repository_id, l.registry, l.name AS repository, l.stream_kind::text AS stream_kind, NULL::timestamp AS month,
    '' AS step, false AS base_changed, l.builds, l.compared, 0::bigint AS repositories, l.reused_layers, l.total_layers,
    l.reused_bytes, l.total_bytes, '' AS advice, l.rank
FROM listed l
WHERE sqlc.arg(top)::integer = 0 OR l.rank <= sqlc.arg(top)::integer
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
WHERE (sqlc.arg(top)::integer = 0 OR l.rank <= sqlc.arg(top)::integer) AND t.occurred_at >= sqlc.arg(since)::timestamp with time zone
GROUP BY l.registry, l.name, l.rank, 6
UNION ALL
SELECT 'step', 0, '', '', '', NULL, step, base_changed, 0, compared, repositories, 0, 0, 0, 0,
    coalesce(layerq_cache_advice(step, CASE WHEN base_changed THEN 0 ELSE 1 END), ''), row_number() OVER (ORDER BY compared DESC, repositories DESC, step, base_changed)
FROM steps
ORDER BY 1, 17, 6;
