-- The cache dashboard's "Growth per repository" and "Reuse per
-- repository" at a million images.
--
-- "Growth per repository" ranks the repositories by their growth over the
-- dashboard's range, a year by default, and read every repository's every
-- day in it (repository_growth_days: 2 M rows at 1M images, 0.7 s).
-- cache_monthly now keeps each month's growth beside its pushes (the sum
-- of total_bytes - from_bytes over the month's comparisons, as
-- repository_growth_days does per day), and layerq_growth_in(from, to)
-- gives a range's growth per stream from the whole months in it and the
-- days at its two ends. An index on the month, carrying what the two
-- panels sum, lets both rank from it alone.

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);
ALTER TABLE cache_monthly ADD COLUMN growth_bytes bigint NOT NULL DEFAULT 0; -- bytes the month's comparisons added (a shrink counts negative)
UPDATE cache_monthly m SET growth_bytes = s.growth_bytes
FROM (
    SELECT repository_id, stream_kind, date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date AS month,
        sum(total_bytes - from_bytes)::bigint AS growth_bytes
    FROM cache_transitions GROUP BY 1, 2, 3
) s
WHERE m.repository_id = s.repository_id AND m.stream_kind = s.stream_kind AND m.month = s.month AND s.growth_bytes <> 0;
CREATE INDEX cache_monthly_month_idx ON cache_monthly (month) INCLUDE (repository_id, stream_kind, pushes, reused_bytes, total_bytes, growth_bytes);

-- +goose StatementBegin
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
-- +goose StatementEnd

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
        INSERT INTO cache_monthly AS t (repository_id, stream_kind, month, pushes, reused_layers, total_layers, reused_bytes, total_bytes)
        SELECT repository_id, stream_kind, date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date,
            p_sign * count(*)::integer, p_sign * sum(reused_layers), p_sign * sum(total_layers),
            p_sign * sum(reused_bytes), p_sign * sum(total_bytes)
        FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, stream_kind, month) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, reused_layers = t.reused_layers + excluded.reused_layers,
            total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
            total_bytes = t.total_bytes + excluded.total_bytes
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
DROP FUNCTION layerq_growth_in(date, date);
DROP INDEX cache_monthly_month_idx;
ALTER TABLE cache_monthly DROP COLUMN growth_bytes;
