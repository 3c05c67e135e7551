-- `layerq cache --since` at a million images, per repository.
--
-- A window's figures per repository (its comparisons, the layers and bytes
-- they reused of their totals, and its tag pushes' builds) were summed
-- from every comparison and push in the window: 237,000 comparisons and
-- 117,000 pushes in 30 days at 1M images, where nearly every one of the
-- 10,000 repositories pushes every day, so no rollup per day reads fewer
-- rows. cache_days keeps them per repository, stream kind and day (UTC),
-- and beside each day the sums through it (that day and every earlier
-- one). A repository's window since D is then its sums through its last
-- day, less those through D's day, plus the comparisons and pushes of D's
-- own day at or after D: two rows per repository and one day's
-- comparisons, however long the window.
--
-- Statement triggers on cache_transitions (each insert, delete and
-- update) and cache_push_builds (each insert; its rows are never deleted)
-- keep it (sql/functions/cache_days.sql): they add the changed days'
-- figures, then recount the sums through each day of the changed
-- repositories from their first changed day on. The two tables are locked
-- against writes while the migration counts them.

-- +goose Up
LOCK TABLE cache_transitions, cache_push_builds IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE cache_days (
    repository_id         bigint NOT NULL,
    stream_kind           text NOT NULL,
    day                   date NOT NULL,   -- UTC
    compared              bigint NOT NULL, -- comparisons that day (cache_transitions)
    reused_layers         bigint NOT NULL,
    total_layers          bigint NOT NULL,
    reused_bytes          bigint NOT NULL,
    total_bytes           bigint NOT NULL,
    builds                bigint NOT NULL, -- tag pushes' builds that day (cache_push_builds; tag streams)
    -- The same, summed over this day and every earlier one.
    through_compared      bigint NOT NULL,
    through_reused_layers bigint NOT NULL,
    through_total_layers  bigint NOT NULL,
    through_reused_bytes  bigint NOT NULL,
    through_total_bytes   bigint NOT NULL,
    through_builds        bigint NOT NULL,
    PRIMARY KEY (repository_id, stream_kind, day)
);

INSERT INTO cache_days (repository_id, stream_kind, day, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds,
    through_compared, through_reused_layers, through_total_layers, through_reused_bytes, through_total_bytes, through_builds)
SELECT repository_id, stream_kind, day, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds,
    sum(compared) OVER w, sum(reused_layers) OVER w, sum(total_layers) OVER w, sum(reused_bytes) OVER w, sum(total_bytes) OVER w,
    sum(builds) OVER w
FROM (
    SELECT repository_id, stream_kind, day, sum(compared)::bigint AS compared, sum(reused_layers)::bigint AS reused_layers,
        sum(total_layers)::bigint AS total_layers, sum(reused_bytes)::bigint AS reused_bytes, sum(total_bytes)::bigint AS total_bytes,
        sum(builds)::bigint AS builds
    FROM (
        SELECT repository_id, stream_kind, (occurred_at AT TIME ZONE 'UTC')::date AS day, 1 AS compared, reused_layers, total_layers,
            reused_bytes, total_bytes, 0 AS builds
        FROM cache_transitions
        UNION ALL
        SELECT repository_id, 'tag', (occurred_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 0, builds
        FROM cache_push_builds
    ) u
    GROUP BY 1, 2, 3
) d
WINDOW w AS (PARTITION BY repository_id, stream_kind ORDER BY day)
ORDER BY 1, 2, 3;
ANALYZE cache_days;

-- The triggers' functions, as sql/functions/cache_days.sql has them.
-- +goose StatementBegin
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
-- +goose StatementEnd
-- +goose StatementBegin
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
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_days_builds() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM layerq_cache_days_add(array_agg(repository_id), array_agg('tag'::text), array_agg(occurred_at), array_agg(0::bigint),
        array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(0::bigint), array_agg(builds::bigint))
    FROM new_rows;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER cache_transitions_days_inserted AFTER INSERT ON cache_transitions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_days_transitions();
CREATE TRIGGER cache_transitions_days_deleted AFTER DELETE ON cache_transitions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_days_transitions();
CREATE TRIGGER cache_transitions_days_updated AFTER UPDATE ON cache_transitions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_days_transitions();
CREATE TRIGGER cache_push_builds_days_inserted AFTER INSERT ON cache_push_builds
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_days_builds();

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON cache_days FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER cache_push_builds_days_inserted ON cache_push_builds;
DROP TRIGGER cache_transitions_days_updated ON cache_transitions;
DROP TRIGGER cache_transitions_days_deleted ON cache_transitions;
DROP TRIGGER cache_transitions_days_inserted ON cache_transitions;
DROP FUNCTION layerq_cache_days_builds(), layerq_cache_days_transitions();
DROP FUNCTION layerq_cache_days_add(bigint[], text[], timestamptz[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[]);
DROP TABLE cache_days;
