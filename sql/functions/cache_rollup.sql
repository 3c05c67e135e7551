-- The cache rollups (cache_monthly, with each month's growth since 00031,
-- cache_totals, cache_steps, the registry's cache_step_totals and, per
-- day since 00032, cache_step_days, growth_days and
-- repository_growth_days) follow cache_transitions through the statement
-- triggers on it (migrations 00003 and 00015), which also keep the window
-- sums of cache_window.sql.

-- Whether the base moved between build p_from and build p_to, whose first
-- changed layer is at p_first: the two are on different base builds
-- (image_bases) and the first change is among p_to's base's layers, so
-- the layer the cache could not serve is the new base's, not a step of
-- the image's own. base_from and base_to are the two builds (NULL when no
-- base is known).
CREATE OR REPLACE FUNCTION layerq_base_move(p_from text, p_to text, p_first integer)
RETURNS TABLE (base_from text, base_to text, base_moved boolean)
LANGUAGE sql STABLE AS $$
    SELECT f.base_digest, t.base_digest,
        coalesce(p_first IS NOT NULL AND t.base_digest IS NOT NULL AND f.base_digest IS DISTINCT FROM t.base_digest
                 AND p_first < t.base_layers, false)
    FROM (SELECT) o
    LEFT JOIN image_bases f ON f.manifest_digest = p_from
    LEFT JOIN image_bases t ON t.manifest_digest = p_to
$$;

-- Each stream's comparisons and growth over the UTC days p_from through
-- p_to, in parts that add up per stream: the range's whole months from
-- cache_monthly, and from repository_growth_days the days before its first
-- whole month and after its last. A year of a million-image registry is
-- then a row per stream and month and the days at its two ends, not every
-- stream's every day (ten times as many rows).
CREATE OR REPLACE FUNCTION layerq_growth_in(p_from date, p_to date)
RETURNS TABLE (repository_id bigint, stream_kind text, pushes integer, growth_bytes bigint)
LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT (date_trunc('month', (p_from - 1)::timestamp) + interval '1 month')::date AS m0, -- the first whole month
            date_trunc('month', (p_to + 1)::timestamp)::date AS m1                             -- the month after the last
    )
    SELECT m.repository_id, m.stream_kind, m.pushes, m.growth_bytes
    FROM cache_monthly m, b WHERE m.month >= b.m0 AND m.month < b.m1
    UNION ALL
    SELECT g.repository_id, g.stream_kind, g.pushes, g.growth_bytes
    FROM repository_growth_days g, b WHERE g.day >= p_from AND g.day < least(b.m0, p_to + 1)
    UNION ALL
    SELECT g.repository_id, g.stream_kind, g.pushes, g.growth_bytes
    FROM repository_growth_days g, b WHERE g.day >= greatest(b.m0, b.m1, p_from) AND g.day <= p_to
$$;

-- Add transitions p_ids (p_sign 1), or the given deleted ones (-1), to the
-- rollups.
CREATE OR REPLACE FUNCTION layerq_cache_rollup(p_ids bigint[], p_sign integer) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    PERFORM layerq_cache_rollup_rows(
        array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
        array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(from_bytes), array_agg(step),
        array_agg(first_changed_position = 0 OR base_moved), p_sign)
    FROM cache_transitions WHERE id = ANY (p_ids);
END;
$$;

-- p_base: whether the base changed (the first layer changed, or the base
-- moved): cache_steps counts those apart, with their own advice. p_from_bytes:
-- the earlier build's layer bytes, for the growth counts (00021, which
-- changed the signature).
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
