-- Each repository's comparisons and tag pushes' builds per stream kind and
-- day (cache_days, migration 00028), with the sums through each day, for
-- a window's figures (cache_since.sql): the statement triggers on
-- cache_transitions and cache_push_builds call these.

-- Add the given figures (a removed comparison's negated) to their
-- repositories' days, then recount the sums through each day of those
-- repositories and kinds from their first changed day on: an addition to
-- today's figures rewrites today's row alone, one to an earlier day every
-- later day of its repository. A day left with no comparison and no build
-- is removed.
CREATE OR REPLACE FUNCTION layerq_cache_days_add(p_repo bigint[], p_kind text[], p_at timestamptz[], p_compared bigint[],
    p_reused_layers bigint[], p_total_layers bigint[], p_reused_bytes bigint[], p_total_bytes bigint[], p_builds bigint[])
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    d_day date[];
BEGIN
    IF p_repo IS NULL THEN
        RETURN;
    END IF;
    -- The figures per day, summed, in place of the rows given.
    SELECT array_agg(repository_id), array_agg(stream_kind), array_agg(day), array_agg(compared), array_agg(reused_layers),
        array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(builds)
    INTO p_repo, p_kind, d_day, p_compared, p_reused_layers, p_total_layers, p_reused_bytes, p_total_bytes, p_builds
    FROM (
        SELECT repository_id, stream_kind, (occurred_at AT TIME ZONE 'UTC')::date AS day, sum(compared)::bigint AS compared,
            sum(reused_layers)::bigint AS reused_layers, sum(total_layers)::bigint AS total_layers,
            sum(reused_bytes)::bigint AS reused_bytes, sum(total_bytes)::bigint AS total_bytes, sum(builds)::bigint AS builds
        FROM unnest(p_repo, p_kind, p_at, p_compared, p_reused_layers, p_total_layers, p_reused_bytes, p_total_bytes, p_builds)
            AS u(repository_id, stream_kind, occurred_at, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ) g;

    INSERT INTO cache_days AS t (repository_id, stream_kind, day, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds,
        through_compared, through_reused_layers, through_total_layers, through_reused_bytes, through_total_bytes, through_builds)
    SELECT u.*, 0, 0, 0, 0, 0, 0
    FROM unnest(p_repo, p_kind, d_day, p_compared, p_reused_layers, p_total_layers, p_reused_bytes, p_total_bytes, p_builds) u
    ON CONFLICT (repository_id, stream_kind, day) DO UPDATE
    SET compared = t.compared + excluded.compared, reused_layers = t.reused_layers + excluded.reused_layers,
        total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
        total_bytes = t.total_bytes + excluded.total_bytes, builds = t.builds + excluded.builds;

    -- A day's figures all come from its comparisons and builds: none
    -- left, nothing left.
    DELETE FROM cache_days t
    USING unnest(p_repo, p_kind, d_day) AS c(repository_id, stream_kind, day)
    WHERE t.repository_id = c.repository_id AND t.stream_kind = c.stream_kind AND t.day = c.day
      AND t.compared = 0 AND t.builds = 0;

    WITH f AS (
        SELECT repository_id, stream_kind, min(day) AS day
        FROM unnest(p_repo, p_kind, d_day) AS c(repository_id, stream_kind, day)
        GROUP BY 1, 2
    ),
    s AS (
        SELECT d.repository_id, d.stream_kind, d.day,
            (coalesce(p.through_compared, 0) + sum(d.compared) OVER w)::bigint AS through_compared,
            (coalesce(p.through_reused_layers, 0) + sum(d.reused_layers) OVER w)::bigint AS through_reused_layers,
            (coalesce(p.through_total_layers, 0) + sum(d.total_layers) OVER w)::bigint AS through_total_layers,
            (coalesce(p.through_reused_bytes, 0) + sum(d.reused_bytes) OVER w)::bigint AS through_reused_bytes,
            (coalesce(p.through_total_bytes, 0) + sum(d.total_bytes) OVER w)::bigint AS through_total_bytes,
            (coalesce(p.through_builds, 0) + sum(d.builds) OVER w)::bigint AS through_builds
        FROM f
        -- The sums through the day before the first changed one, which
        -- this leaves as they are.
        LEFT JOIN LATERAL (
            SELECT b.through_compared, b.through_reused_layers, b.through_total_layers, b.through_reused_bytes,
                b.through_total_bytes, b.through_builds
            FROM cache_days b
            WHERE b.repository_id = f.repository_id AND b.stream_kind = f.stream_kind AND b.day < f.day
            ORDER BY b.day DESC LIMIT 1
        ) p ON true
        JOIN cache_days d ON d.repository_id = f.repository_id AND d.stream_kind = f.stream_kind AND d.day >= f.day
        WINDOW w AS (PARTITION BY d.repository_id, d.stream_kind ORDER BY d.day)
    )
    UPDATE cache_days t
    SET through_compared = s.through_compared, through_reused_layers = s.through_reused_layers,
        through_total_layers = s.through_total_layers, through_reused_bytes = s.through_reused_bytes,
        through_total_bytes = s.through_total_bytes, through_builds = s.through_builds
    FROM s
    WHERE t.repository_id = s.repository_id AND t.stream_kind = s.stream_kind AND t.day = s.day
      AND (t.through_compared, t.through_reused_layers, t.through_total_layers, t.through_reused_bytes, t.through_total_bytes, t.through_builds)
          IS DISTINCT FROM
          (s.through_compared, s.through_reused_layers, s.through_total_layers, s.through_reused_bytes, s.through_total_bytes, s.through_builds);
END;
$$;

-- The comparisons a statement on cache_transitions removed (old_rows) and
-- added (new_rows), in one call: an update that moves no figure (a base
-- move found later) changes nothing.
CREATE OR REPLACE FUNCTION layerq_cache_days_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM layerq_cache_days_add(array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(1::bigint),
            array_agg(reused_layers::bigint), array_agg(total_layers::bigint), array_agg(reused_bytes), array_agg(total_bytes),
            array_agg(0::bigint))
        FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM layerq_cache_days_add(array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(-1::bigint),
            array_agg(-reused_layers::bigint), array_agg(-total_layers::bigint), array_agg(-reused_bytes), array_agg(-total_bytes),
            array_agg(0::bigint))
        FROM old_rows;
    ELSE
        PERFORM layerq_cache_days_add(array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(sign),
            array_agg(sign * reused_layers), array_agg(sign * total_layers), array_agg(sign * reused_bytes), array_agg(sign * total_bytes),
            array_agg(0::bigint))
        FROM (
            SELECT repository_id, stream_kind, occurred_at, -1::bigint AS sign, reused_layers, total_layers, reused_bytes, total_bytes
            FROM old_rows
            UNION ALL
            SELECT repository_id, stream_kind, occurred_at, 1, reused_layers, total_layers, reused_bytes, total_bytes
            FROM new_rows
        ) u;
    END IF;
    RETURN NULL;
END;
$$;

-- The builds of tag pushes a statement added to cache_push_builds (whose
-- rows are never deleted).
CREATE OR REPLACE FUNCTION layerq_cache_days_builds() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM layerq_cache_days_add(array_agg(repository_id), array_agg('tag'::text), array_agg(occurred_at), array_agg(0::bigint),
        array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(builds::bigint))
    FROM new_rows;
    RETURN NULL;
END;
$$;
