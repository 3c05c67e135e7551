-- Whether a repository's figures are of its tag streams, read once per
-- statement.
--
-- The fold's rollups ask of each comparison whether its repository has a
-- moved tag (cache_tagged_repositories) by a correlated EXISTS. The first
-- fold fills that table in the same transaction, after the statistics were
-- taken: planned for an empty table, each comparison scanned it whole, and
-- at 1,000,000 images the first fold's million tag moves scanned its 10,000
-- rows each. The question is now an uncorrelated IN, which Postgres answers
-- from one hash of the table per statement.

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_rollup_rows(p_repo bigint[], p_kind text[], p_at timestamptz[], p_reused integer[],
    p_total integer[], p_reused_bytes bigint[], p_total_bytes bigint[], p_from_bytes bigint[], p_step text[], p_base boolean[], p_sign integer)
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF p_repo IS NULL THEN
        RETURN;
    END IF;
    WITH x AS (
        SELECT * FROM unnest(p_repo, p_kind, p_at, p_reused, p_total, p_reused_bytes, p_total_bytes, p_from_bytes, p_step, p_base)
            AS u(repository_id, stream_kind, occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, from_bytes, step, base)
    ),
    days AS (
        INSERT INTO repository_growth_days AS t (repository_id, stream_kind, day, pushes, growth_bytes)
        SELECT repository_id, stream_kind, (occurred_at AT TIME ZONE 'UTC')::date, p_sign * count(*)::integer,
            p_sign * sum(total_bytes - from_bytes)
        FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, stream_kind, day) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, growth_bytes = t.growth_bytes + excluded.growth_bytes
    ),
    -- The registry's growth per day (growth_days) counts each repository's
    -- comparisons of the stream kind its figures use, as the busters below.
    registry_days AS (
        INSERT INTO growth_days AS t (day, pushes, grew)
        SELECT (occurred_at AT TIME ZONE 'UTC')::date, p_sign * count(*), p_sign * count(*) FILTER (WHERE total_bytes > from_bytes)
        FROM x
        WHERE stream_kind = CASE WHEN x.repository_id IN (SELECT repository_id FROM cache_tagged_repositories)
                                 THEN 'tag' ELSE 'created' END
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (day) DO UPDATE SET pushes = t.pushes + excluded.pushes, grew = t.grew + excluded.grew
    ),
    monthly AS (
        INSERT INTO cache_monthly AS t (repository_id, stream_kind, month, pushes, reused_layers, total_layers, reused_bytes, total_bytes, growth_bytes)
        SELECT repository_id, stream_kind, date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date,
            p_sign * count(*)::integer, p_sign * sum(reused_layers), p_sign * sum(total_layers),
            p_sign * sum(reused_bytes), p_sign * sum(total_bytes), p_sign * sum(total_bytes - from_bytes)
        FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, stream_kind, month) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, reused_layers = t.reused_layers + excluded.reused_layers,
            total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
            total_bytes = t.total_bytes + excluded.total_bytes, growth_bytes = t.growth_bytes + excluded.growth_bytes
    ),
    totals AS (
        INSERT INTO cache_totals AS t (repository_id, stream_kind, pushes, reused_layers, total_layers, reused_bytes, total_bytes)
        SELECT repository_id, stream_kind, p_sign * count(*)::integer, p_sign * sum(reused_layers), p_sign * sum(total_layers),
            p_sign * sum(reused_bytes), p_sign * sum(total_bytes)
        FROM x GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (repository_id, stream_kind) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, reused_layers = t.reused_layers + excluded.reused_layers,
            total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
            total_bytes = t.total_bytes + excluded.total_bytes
    ),
    sd AS (
        SELECT repository_id, stream_kind, step, base, p_sign * count(*)::integer AS d
        FROM x WHERE step IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ),
    -- The registry's busters per day (cache_step_days, 00032), counted as
    -- cache_step_totals counts them.
    step_days AS (
        INSERT INTO cache_step_days AS t (step, base_changed, day, busts)
        SELECT step, base, (occurred_at AT TIME ZONE 'UTC')::date, p_sign * count(*)
        FROM x
        WHERE step IS NOT NULL
          AND stream_kind = CASE WHEN x.repository_id IN (SELECT repository_id FROM cache_tagged_repositories)
                                 THEN 'tag' ELSE 'created' END
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET busts = t.busts + excluded.busts
    ),
    steps AS (
        INSERT INTO cache_steps AS t (repository_id, stream_kind, step, base_changed, pushes)
        SELECT repository_id, stream_kind, step, base, d FROM sd ORDER BY 1, 2, 3, 4
        ON CONFLICT (repository_id, stream_kind, step, base_changed) DO UPDATE SET pushes = t.pushes + excluded.pushes
        RETURNING t.repository_id, t.stream_kind, t.step, t.base_changed, t.pushes
    )
    -- The registry's busters (cache_step_totals) count a repository's
    -- steps of the stream kind its cache figures use: tag once a tag of it
    -- moved (cache_tagged_repositories, which the trigger fills before
    -- this runs), created before.
    INSERT INTO cache_step_totals AS t (step, base_changed, pushes, repositories)
    SELECT s.step, s.base_changed, sum(d.d), sum((s.pushes > 0)::integer - (s.pushes - d.d > 0)::integer)
    FROM steps s
    JOIN sd d ON d.repository_id = s.repository_id AND d.stream_kind = s.stream_kind AND d.step = s.step AND d.base = s.base_changed
    WHERE s.stream_kind = CASE WHEN s.repository_id IN (SELECT repository_id FROM cache_tagged_repositories)
                               THEN 'tag' ELSE 'created' END
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (step, base_changed) DO UPDATE
    SET pushes = t.pushes + excluded.pushes, repositories = t.repositories + excluded.repositories;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_transitions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tagged bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH added AS (
            INSERT INTO cache_tagged_repositories (repository_id)
            SELECT DISTINCT repository_id FROM new_rows WHERE stream_kind = 'tag' ORDER BY 1
            ON CONFLICT DO NOTHING
            RETURNING repository_id
        )
        SELECT array_agg(repository_id) INTO tagged FROM added;
        -- A repository whose tag moved for the first time: its cache
        -- figures are its tags' from now on, and its busters and the
        -- registry's growth per day too.
        IF tagged IS NOT NULL THEN
            INSERT INTO cache_step_totals AS t (step, base_changed, pushes, repositories)
            SELECT step, base_changed, -sum(pushes), -count(*)::integer FROM cache_steps
            WHERE repository_id = ANY (tagged) AND stream_kind = 'created' AND pushes > 0
            GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (step, base_changed) DO UPDATE
            SET pushes = t.pushes + excluded.pushes, repositories = t.repositories + excluded.repositories;
            INSERT INTO growth_days AS g (day, pushes, grew)
            SELECT (c.occurred_at AT TIME ZONE 'UTC')::date, -count(*), -count(*) FILTER (WHERE c.total_bytes > c.from_bytes)
            FROM cache_transitions c
            -- NOT EXISTS, an anti-join: NOT IN over new_rows is hashed
            -- only while new_rows fits in work_mem, and past that rescans
            -- it for every row (a first fold of a 1M-image graph read
            -- terabytes of it from temporary files for over an hour).
            WHERE c.repository_id = ANY (tagged) AND c.stream_kind = 'created'
              AND NOT EXISTS (SELECT FROM new_rows n WHERE n.id = c.id)
            GROUP BY 1 ORDER BY 1
            ON CONFLICT (day) DO UPDATE SET pushes = g.pushes + excluded.pushes, grew = g.grew + excluded.grew;
            INSERT INTO cache_step_days AS s (step, base_changed, day, busts)
            SELECT c.step, c.first_changed_position = 0 OR c.base_moved, (c.occurred_at AT TIME ZONE 'UTC')::date, -count(*)
            FROM cache_transitions c
            WHERE c.repository_id = ANY (tagged) AND c.stream_kind = 'created' AND c.step IS NOT NULL
              AND NOT EXISTS (SELECT FROM new_rows n WHERE n.id = c.id)
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (step, base_changed, day) DO UPDATE SET busts = s.busts + excluded.busts;
        END IF;
        PERFORM layerq_cache_rollup(array_agg(id), 1) FROM new_rows;
        -- The window sums of the repositories compared, from the first
        -- day compared, and their steps' last busts; a repository whose
        -- first tag moved, whole.
        PERFORM layerq_refresh_cache_window(array_agg(repository_id), array_agg(day))
        FROM (SELECT n.repository_id, (n.occurred_at AT TIME ZONE 'UTC')::date AS day FROM new_rows n
              WHERE n.stream_kind = CASE WHEN n.repository_id IN (SELECT repository_id FROM cache_tagged_repositories)
                                         THEN 'tag' ELSE 'created' END
              UNION ALL
              SELECT unnest(tagged), '-infinity'::date) u;
        INSERT INTO cache_step_last AS l (repository_id, step, base_changed, last_at)
        SELECT n.repository_id, n.step, n.first_changed_position = 0 OR n.base_moved, max(n.occurred_at)
        FROM new_rows n
        WHERE n.step IS NOT NULL
          AND n.stream_kind = CASE WHEN n.repository_id IN (SELECT repository_id FROM cache_tagged_repositories)
                                   THEN 'tag' ELSE 'created' END
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, step, base_changed) DO UPDATE SET last_at = greatest(l.last_at, excluded.last_at);
        IF tagged IS NOT NULL THEN
            PERFORM layerq_refresh_cache_step_last(tagged);
        END IF;
        RETURN NULL;
    END IF;
    -- A delete, or an update (a base move found later): out with the old.
    PERFORM layerq_cache_rollup_rows(
        array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
        array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(from_bytes), array_agg(step),
        array_agg(first_changed_position = 0 OR base_moved), -1)
    FROM old_rows;
    IF TG_OP = 'UPDATE' THEN
        PERFORM layerq_cache_rollup(array_agg(id), 1) FROM new_rows;
        -- The window sums again only where what they sum changed (a base
        -- move found later changes the step's kind, not the sums).
        PERFORM layerq_refresh_cache_window(array_agg(u.repository_id), array_agg((u.occurred_at AT TIME ZONE 'UTC')::date))
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.repository_id, o.occurred_at), (n.repository_id, n.occurred_at)) u(repository_id, occurred_at)
        WHERE (o.repository_id, o.stream_kind, o.occurred_at, o.reused_layers, o.total_layers, o.reused_bytes, o.total_bytes)
              IS DISTINCT FROM (n.repository_id, n.stream_kind, n.occurred_at, n.reused_layers, n.total_layers, n.reused_bytes, n.total_bytes);
        PERFORM layerq_refresh_cache_step_last(array_agg(repository_id))
        FROM (SELECT repository_id FROM old_rows UNION SELECT repository_id FROM new_rows) u;
    ELSE
        PERFORM layerq_refresh_cache_window(array_agg(repository_id), array_agg((occurred_at AT TIME ZONE 'UTC')::date)),
            layerq_refresh_cache_step_last(array_agg(repository_id))
        FROM old_rows;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_rollup_rows(p_repo bigint[], p_kind text[], p_at timestamptz[], p_reused integer[],
    p_total integer[], p_reused_bytes bigint[], p_total_bytes bigint[], p_from_bytes bigint[], p_step text[], p_base boolean[], p_sign integer)
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF p_repo IS NULL THEN
        RETURN;
    END IF;
    WITH x AS (
        SELECT * FROM unnest(p_repo, p_kind, p_at, p_reused, p_total, p_reused_bytes, p_total_bytes, p_from_bytes, p_step, p_base)
            AS u(repository_id, stream_kind, occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, from_bytes, step, base)
    ),
    days AS (
        INSERT INTO repository_growth_days AS t (repository_id, stream_kind, day, pushes, growth_bytes)
        SELECT repository_id, stream_kind, (occurred_at AT TIME ZONE 'UTC')::date, p_sign * count(*)::integer,
            p_sign * sum(total_bytes - from_bytes)
        FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, stream_kind, day) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, growth_bytes = t.growth_bytes + excluded.growth_bytes
    ),
    -- The registry's growth per day (growth_days) counts each repository's
    -- comparisons of the stream kind its figures use, as the busters below.
    registry_days AS (
        INSERT INTO growth_days AS t (day, pushes, grew)
        SELECT (occurred_at AT TIME ZONE 'UTC')::date, p_sign * count(*), p_sign * count(*) FILTER (WHERE total_bytes > from_bytes)
        FROM x
        WHERE stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories g WHERE g.repository_id = x.repository_id)
                                 THEN 'tag' ELSE 'created' END
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (day) DO UPDATE SET pushes = t.pushes + excluded.pushes, grew = t.grew + excluded.grew
    ),
    monthly AS (
        INSERT INTO cache_monthly AS t (repository_id, stream_kind, month, pushes, reused_layers, total_layers, reused_bytes, total_bytes, growth_bytes)
        SELECT repository_id, stream_kind, date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date,
            p_sign * count(*)::integer, p_sign * sum(reused_layers), p_sign * sum(total_layers),
            p_sign * sum(reused_bytes), p_sign * sum(total_bytes), p_sign * sum(total_bytes - from_bytes)
        FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, stream_kind, month) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, reused_layers = t.reused_layers + excluded.reused_layers,
            total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
            total_bytes = t.total_bytes + excluded.total_bytes, growth_bytes = t.growth_bytes + excluded.growth_bytes
    ),
    totals AS (
        INSERT INTO cache_totals AS t (repository_id, stream_kind, pushes, reused_layers, total_layers, reused_bytes, total_bytes)
        SELECT repository_id, stream_kind, p_sign * count(*)::integer, p_sign * sum(reused_layers), p_sign * sum(total_layers),
            p_sign * sum(reused_bytes), p_sign * sum(total_bytes)
        FROM x GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (repository_id, stream_kind) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, reused_layers = t.reused_layers + excluded.reused_layers,
            total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
            total_bytes = t.total_bytes + excluded.total_bytes
    ),
    sd AS (
        SELECT repository_id, stream_kind, step, base, p_sign * count(*)::integer AS d
        FROM x WHERE step IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ),
    -- The registry's busters per day (cache_step_days, 00032), counted as
    -- cache_step_totals counts them.
    step_days AS (
        INSERT INTO cache_step_days AS t (step, base_changed, day, busts)
        SELECT step, base, (occurred_at AT TIME ZONE 'UTC')::date, p_sign * count(*)
        FROM x
        WHERE step IS NOT NULL
          AND stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories g WHERE g.repository_id = x.repository_id)
                                 THEN 'tag' ELSE 'created' END
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET busts = t.busts + excluded.busts
    ),
    steps AS (
        INSERT INTO cache_steps AS t (repository_id, stream_kind, step, base_changed, pushes)
        SELECT repository_id, stream_kind, step, base, d FROM sd ORDER BY 1, 2, 3, 4
        ON CONFLICT (repository_id, stream_kind, step, base_changed) DO UPDATE SET pushes = t.pushes + excluded.pushes
        RETURNING t.repository_id, t.stream_kind, t.step, t.base_changed, t.pushes
    )
    -- The registry's busters (cache_step_totals) count a repository's
    -- steps of the stream kind its cache figures use: tag once a tag of it
    -- moved (cache_tagged_repositories, which the trigger fills before
    -- this runs), created before.
    INSERT INTO cache_step_totals AS t (step, base_changed, pushes, repositories)
    SELECT s.step, s.base_changed, sum(d.d), sum((s.pushes > 0)::integer - (s.pushes - d.d > 0)::integer)
    FROM steps s
    JOIN sd d ON d.repository_id = s.repository_id AND d.stream_kind = s.stream_kind AND d.step = s.step AND d.base = s.base_changed
    WHERE s.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = s.repository_id)
                               THEN 'tag' ELSE 'created' END
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (step, base_changed) DO UPDATE
    SET pushes = t.pushes + excluded.pushes, repositories = t.repositories + excluded.repositories;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_transitions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tagged bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH added AS (
            INSERT INTO cache_tagged_repositories (repository_id)
            SELECT DISTINCT repository_id FROM new_rows WHERE stream_kind = 'tag' ORDER BY 1
            ON CONFLICT DO NOTHING
            RETURNING repository_id
        )
        SELECT array_agg(repository_id) INTO tagged FROM added;
        -- A repository whose tag moved for the first time: its cache
        -- figures are its tags' from now on, and its busters and the
        -- registry's growth per day too.
        IF tagged IS NOT NULL THEN
            INSERT INTO cache_step_totals AS t (step, base_changed, pushes, repositories)
            SELECT step, base_changed, -sum(pushes), -count(*)::integer FROM cache_steps
            WHERE repository_id = ANY (tagged) AND stream_kind = 'created' AND pushes > 0
            GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (step, base_changed) DO UPDATE
            SET pushes = t.pushes + excluded.pushes, repositories = t.repositories + excluded.repositories;
            INSERT INTO growth_days AS g (day, pushes, grew)
            SELECT (c.occurred_at AT TIME ZONE 'UTC')::date, -count(*), -count(*) FILTER (WHERE c.total_bytes > c.from_bytes)
            FROM cache_transitions c
            -- NOT EXISTS, an anti-join: NOT IN over new_rows is hashed
            -- only while new_rows fits in work_mem, and past that rescans
            -- it for every row (a first fold of a 1M-image graph read
            -- terabytes of it from temporary files for over an hour).
            WHERE c.repository_id = ANY (tagged) AND c.stream_kind = 'created'
              AND NOT EXISTS (SELECT FROM new_rows n WHERE n.id = c.id)
            GROUP BY 1 ORDER BY 1
            ON CONFLICT (day) DO UPDATE SET pushes = g.pushes + excluded.pushes, grew = g.grew + excluded.grew;
            INSERT INTO cache_step_days AS s (step, base_changed, day, busts)
            SELECT c.step, c.first_changed_position = 0 OR c.base_moved, (c.occurred_at AT TIME ZONE 'UTC')::date, -count(*)
            FROM cache_transitions c
            WHERE c.repository_id = ANY (tagged) AND c.stream_kind = 'created' AND c.step IS NOT NULL
              AND NOT EXISTS (SELECT FROM new_rows n WHERE n.id = c.id)
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (step, base_changed, day) DO UPDATE SET busts = s.busts + excluded.busts;
        END IF;
        PERFORM layerq_cache_rollup(array_agg(id), 1) FROM new_rows;
        -- The window sums of the repositories compared, from the first
        -- day compared, and their steps' last busts; a repository whose
        -- first tag moved, whole.
        PERFORM layerq_refresh_cache_window(array_agg(repository_id), array_agg(day))
        FROM (SELECT n.repository_id, (n.occurred_at AT TIME ZONE 'UTC')::date AS day FROM new_rows n
              WHERE n.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = n.repository_id)
                                         THEN 'tag' ELSE 'created' END
              UNION ALL
              SELECT unnest(tagged), '-infinity'::date) u;
        INSERT INTO cache_step_last AS l (repository_id, step, base_changed, last_at)
        SELECT n.repository_id, n.step, n.first_changed_position = 0 OR n.base_moved, max(n.occurred_at)
        FROM new_rows n
        WHERE n.step IS NOT NULL
          AND n.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = n.repository_id)
                                   THEN 'tag' ELSE 'created' END
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, step, base_changed) DO UPDATE SET last_at = greatest(l.last_at, excluded.last_at);
        IF tagged IS NOT NULL THEN
            PERFORM layerq_refresh_cache_step_last(tagged);
        END IF;
        RETURN NULL;
    END IF;
    -- A delete, or an update (a base move found later): out with the old.
    PERFORM layerq_cache_rollup_rows(
        array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
        array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(from_bytes), array_agg(step),
        array_agg(first_changed_position = 0 OR base_moved), -1)
    FROM old_rows;
    IF TG_OP = 'UPDATE' THEN
        PERFORM layerq_cache_rollup(array_agg(id), 1) FROM new_rows;
        -- The window sums again only where what they sum changed (a base
        -- move found later changes the step's kind, not the sums).
        PERFORM layerq_refresh_cache_window(array_agg(u.repository_id), array_agg((u.occurred_at AT TIME ZONE 'UTC')::date))
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.repository_id, o.occurred_at), (n.repository_id, n.occurred_at)) u(repository_id, occurred_at)
        WHERE (o.repository_id, o.stream_kind, o.occurred_at, o.reused_layers, o.total_layers, o.reused_bytes, o.total_bytes)
              IS DISTINCT FROM (n.repository_id, n.stream_kind, n.occurred_at, n.reused_layers, n.total_layers, n.reused_bytes, n.total_bytes);
        PERFORM layerq_refresh_cache_step_last(array_agg(repository_id))
        FROM (SELECT repository_id FROM old_rows UNION SELECT repository_id FROM new_rows) u;
    ELSE
        PERFORM layerq_refresh_cache_window(array_agg(repository_id), array_agg((occurred_at AT TIME ZONE 'UTC')::date)),
            layerq_refresh_cache_step_last(array_agg(repository_id))
        FROM old_rows;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
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
            CASE WHEN EXISTS (SELECT FROM cache_tagged_repositories x WHERE x.repository_id = u.repository_id) THEN 'tag' ELSE 'created' END AS kind
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
        CASE WHEN EXISTS (SELECT FROM cache_tagged_repositories x WHERE x.repository_id = a.repository_id) THEN 'tag' ELSE 'created' END,
        f.day, l.day, l.compared, l.reused_layers, l.total_layers, l.reused_bytes, l.total_bytes, l.builds
    FROM unnest(repos) AS a(repository_id)
    JOIN LATERAL (SELECT * FROM cache_window_days w WHERE w.repository_id = a.repository_id ORDER BY w.day DESC LIMIT 1) l ON true
    JOIN LATERAL (SELECT w.day FROM cache_window_days w WHERE w.repository_id = a.repository_id ORDER BY w.day LIMIT 1) f ON true
    ORDER BY 1;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_refresh_cache_step_last(p_repo bigint[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM cache_step_last WHERE repository_id = ANY (p_repo);
    INSERT INTO cache_step_last (repository_id, step, base_changed, last_at)
    SELECT t.repository_id, t.step, t.first_changed_position = 0 OR t.base_moved, max(t.occurred_at)
    FROM (SELECT DISTINCT unnest(p_repo) AS repository_id) a
    JOIN cache_transitions t ON t.repository_id = a.repository_id
        AND t.stream_kind = CASE WHEN EXISTS (SELECT FROM cache_tagged_repositories x WHERE x.repository_id = a.repository_id) THEN 'tag' ELSE 'created' END
    WHERE t.step IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;
$$;
-- +goose StatementEnd
