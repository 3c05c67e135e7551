-- What `layerq cache --since` reads for every repository (migration
-- 00032): each repository's sums through each day (cache_window_days,
-- cache_window_totals) and the last time each step was its first change
-- (cache_step_last, and per day cache_step_last_days: 00038), of the
-- stream kind its figures use. The triggers on
-- cache_transitions and cache_push_builds call the refresh below for the
-- repositories a statement changed, from the first day it changed.

-- Work out again, for repositories p_repo from days p_from (UTC) on, their
-- sums through each day: comparisons of the stream kind their figures use
-- (tag once a tag of theirs moved, created before) and tag pushes' builds
-- (tag streams only), one row per day from a repository's first such day
-- to its last (so that a window's start finds every repository active
-- around it in one index range), and their totals (the last day's row).
-- A day of -infinity works a repository out whole (its stream kind
-- changed).
CREATE OR REPLACE FUNCTION layerq_refresh_cache_window(p_repo bigint[], p_from date[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET jit = off AS $$
DECLARE
    repos bigint[];
    froms date[];
BEGIN
    SELECT array_agg(repository_id ORDER BY repository_id), array_agg(f ORDER BY repository_id) INTO repos, froms
    FROM (SELECT repository_id, min(f) AS f FROM unnest(p_repo, p_from) AS u(repository_id, f)
          WHERE repository_id IS NOT NULL GROUP BY 1) a;
    IF repos IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM cache_window_days w
    USING unnest(repos, froms) AS a(repository_id, f)
    WHERE w.repository_id = a.repository_id AND w.day >= a.f;
    WITH a AS (
        SELECT u.repository_id, u.f,
            CASE WHEN u.repository_id IN (SELECT repository_id FROM cache_tagged_repositories) THEN 'tag' ELSE 'created' END AS kind
        FROM unnest(repos, froms) AS u(repository_id, f)
    ),
    daily AS (
        SELECT repository_id, day, sum(compared) AS compared, sum(reused_layers) AS reused_layers, sum(total_layers) AS total_layers,
            sum(reused_bytes) AS reused_bytes, sum(total_bytes) AS total_bytes, sum(builds) AS builds
        FROM (
            SELECT t.repository_id, (t.occurred_at AT TIME ZONE 'UTC')::date AS day, 1 AS compared, t.reused_layers::bigint AS reused_layers,
                t.total_layers::bigint AS total_layers, t.reused_bytes, t.total_bytes, 0 AS builds
            FROM a JOIN cache_transitions t ON t.repository_id = a.repository_id AND t.stream_kind = a.kind
            WHERE t.occurred_at >= a.f::timestamp AT TIME ZONE 'UTC'
            UNION ALL
            SELECT p.repository_id, (p.occurred_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 0, p.builds
            FROM a JOIN cache_push_builds p ON p.repository_id = a.repository_id AND a.kind = 'tag'
            WHERE p.occurred_at >= a.f::timestamp AT TIME ZONE 'UTC'
        ) u
        GROUP BY 1, 2
    ),
    span AS (SELECT repository_id, min(day) AS lo, max(day) AS hi FROM daily GROUP BY 1),
    -- The sums before the first day worked out again: the repository's
    -- latest row left.
    base AS (
        SELECT a.repository_id, b.day, coalesce(b.compared, 0) AS compared, coalesce(b.reused_layers, 0) AS reused_layers,
            coalesce(b.total_layers, 0) AS total_layers, coalesce(b.reused_bytes, 0) AS reused_bytes,
            coalesce(b.total_bytes, 0) AS total_bytes, coalesce(b.builds, 0) AS builds
        FROM a
        LEFT JOIN LATERAL (
            SELECT w.day, w.compared, w.reused_layers, w.total_layers, w.reused_bytes, w.total_bytes, w.builds
            FROM cache_window_days w WHERE w.repository_id = a.repository_id ORDER BY w.day DESC LIMIT 1
        ) b ON true
    ),
    days AS (
        SELECT r.repository_id, s.at::date AS day
        FROM span r
        JOIN base b ON b.repository_id = r.repository_id
        CROSS JOIN LATERAL generate_series(coalesce(b.day + 1, r.lo)::timestamp, r.hi::timestamp, interval '1 day') AS s(at)
    )
    INSERT INTO cache_window_days (day, repository_id, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds)
    SELECT g.day, g.repository_id,
        b.compared + sum(coalesce(d.compared, 0)) OVER w,
        b.reused_layers + sum(coalesce(d.reused_layers, 0)) OVER w,
        b.total_layers + sum(coalesce(d.total_layers, 0)) OVER w,
        b.reused_bytes + sum(coalesce(d.reused_bytes, 0)) OVER w,
        b.total_bytes + sum(coalesce(d.total_bytes, 0)) OVER w,
        b.builds + sum(coalesce(d.builds, 0)) OVER w
    FROM days g
    JOIN base b ON b.repository_id = g.repository_id
    LEFT JOIN daily d ON d.repository_id = g.repository_id AND d.day = g.day
    WINDOW w AS (PARTITION BY g.repository_id ORDER BY g.day)
    ORDER BY 1, 2;

    -- A repository whose latest comparisons went (none left from its
    -- first day worked out on): its rows end at its last day with any.
    DELETE FROM cache_window_days w
    USING (
        SELECT x.repository_id, max(x.day) AS last
        FROM (
            SELECT v.repository_id, v.day,
                v.compared IS DISTINCT FROM lag(v.compared) OVER r OR v.builds IS DISTINCT FROM lag(v.builds) OVER r AS moved
            FROM unnest(repos, froms) AS a(repository_id, f)
            JOIN cache_window_days v ON v.repository_id = a.repository_id
            WHERE NOT EXISTS (SELECT FROM cache_window_days z WHERE z.repository_id = a.repository_id AND z.day >= a.f)
            WINDOW r AS (PARTITION BY v.repository_id ORDER BY v.day)
        ) x
        WHERE x.moved
        GROUP BY 1
    ) t
    WHERE w.repository_id = t.repository_id AND w.day > t.last;

    DELETE FROM cache_window_totals WHERE repository_id = ANY (repos);
    INSERT INTO cache_window_totals (repository_id, stream_kind, first_day, last_day, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds)
    SELECT a.repository_id,
        CASE WHEN a.repository_id IN (SELECT repository_id FROM cache_tagged_repositories) THEN 'tag' ELSE 'created' END,
        f.day, l.day, l.compared, l.reused_layers, l.total_layers, l.reused_bytes, l.total_bytes, l.builds
    FROM unnest(repos) AS a(repository_id)
    JOIN LATERAL (SELECT * FROM cache_window_days w WHERE w.repository_id = a.repository_id ORDER BY w.day DESC LIMIT 1) l ON true
    JOIN LATERAL (SELECT w.day FROM cache_window_days w WHERE w.repository_id = a.repository_id ORDER BY w.day LIMIT 1) f ON true
    ORDER BY 1;
END;
$$;

-- Work out again the last time each step of repositories p_repo was the
-- first change of a comparison of the stream kind their figures use
-- (after a delete, an update, or a repository's first tag move; new
-- comparisons alone only move a step's last time on, in the trigger).
CREATE OR REPLACE FUNCTION layerq_refresh_cache_step_last(p_repo bigint[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM cache_step_last WHERE repository_id = ANY (p_repo);
    INSERT INTO cache_step_last (repository_id, step, base_changed, last_at)
    SELECT t.repository_id, t.step, t.first_changed_position = 0 OR t.base_moved, max(t.occurred_at)
    FROM (SELECT DISTINCT unnest(p_repo) AS repository_id) a
    JOIN cache_transitions t ON t.repository_id = a.repository_id
        AND t.stream_kind = CASE WHEN a.repository_id IN (SELECT repository_id FROM cache_tagged_repositories) THEN 'tag' ELSE 'created' END
    WHERE t.step IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;
$$;

-- Tag pushes' builds count in the sums of their repositories from their
-- day on.
CREATE OR REPLACE FUNCTION layerq_cache_push_builds_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM layerq_refresh_cache_window(array_agg(repository_id), array_agg((occurred_at AT TIME ZONE 'UTC')::date)) FROM new_rows;
    RETURN NULL;
END;
$$;

-- The repositories whose last bust of a step falls on each day
-- (cache_step_last_days, migration 00038), moved by cache_step_last's
-- triggers as its rows come, go and move on.
CREATE OR REPLACE FUNCTION layerq_cache_step_last_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cache_step_last_days AS t (step, base_changed, day, repositories)
        SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date, count(*)
        FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET repositories = t.repositories + excluded.repositories;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO cache_step_last_days AS t (step, base_changed, day, repositories)
        SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date, -count(*)
        FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET repositories = t.repositories + excluded.repositories;
    ELSE
        INSERT INTO cache_step_last_days AS t (step, base_changed, day, repositories)
        SELECT step, base_changed, day, sum(n) FROM (
            SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date AS day, 1 AS n FROM new_rows
            UNION ALL
            SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date, -1 FROM old_rows
        ) u
        GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET repositories = t.repositories + excluded.repositories;
    END IF;
    RETURN NULL;
END;
$$;
