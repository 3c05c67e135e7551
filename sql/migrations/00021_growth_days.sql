-- `layerq growth` at a million images.
--
-- 1. growth_days keeps, per day (UTC), the pushes compared with the push
--    before them and how many of them grew, counting each repository's
--    comparisons of the stream kind its figures use (tag once a tag of it
--    moved, created before), as cache_step_totals does. `growth --since D`
--    over every repository counted the comparisons of the window one by
--    one: 118,000 of them for 30 days at 1M images (0.4 s). It now sums the
--    whole days of the window and counts the comparisons of its first,
--    partial day. The cache rollups keep it and the table below
--    (layerq_cache_rollup_rows, which now takes each comparison's earlier
--    layer bytes too), and the trigger on cache_transitions takes a
--    repository's created comparisons out when its first tag moves.
-- 2. repository_growth_days keeps each repository's comparisons per day
--    and stream kind, with the bytes they added (a shrink counts
--    negative); the view repository_growth shows those of the kind each
--    repository's figures use. The cache dashboard's growth timeline and
--    its count of builds compared read it: they grouped every comparison
--    in their range, 200,000 over a year at 100k images (0.3 s).
-- 3. cache_transitions_repo_growth_idx orders each repository's
--    comparisons by their growth, with the two sizes beside it, so
--    `growth --repo GLOB` reads a page of each selected repository's
--    comparisons, and counts them from the index alone.
-- 4. manifest_layers' two digests get a larger statistics sample. At 1M
--    images the default sample put 85,000 distinct manifests in 10 M rows
--    (there are 1 M): a lookup of 40 manifests' layers was planned as 4,800
--    rows and run by two parallel workers, 70 ms where one backend takes 5.
--
-- The migration folds what is queued first, with the functions as they
-- are, and counts cache_transitions as it then is. The fold becomes a stub
-- that takes nothing in until the function files give it its body again
-- (a fold in between, by a process of the previous release, would add
-- comparisons without counting them here).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE growth_days (
    day    date PRIMARY KEY, -- UTC
    pushes bigint NOT NULL,  -- comparisons made that day
    grew   bigint NOT NULL   -- of which the later push is the larger
);

INSERT INTO growth_days (day, pushes, grew)
SELECT (t.occurred_at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE t.total_bytes > t.from_bytes)
FROM cache_transitions t
LEFT JOIN cache_tagged_repositories x ON x.repository_id = t.repository_id
WHERE t.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END
GROUP BY 1;

CREATE TABLE repository_growth_days (
    repository_id bigint NOT NULL,
    stream_kind   text NOT NULL,
    day           date NOT NULL,   -- UTC
    pushes        integer NOT NULL,
    growth_bytes  bigint NOT NULL, -- the later pushes' layer bytes less the earlier ones'
    PRIMARY KEY (repository_id, stream_kind, day)
);
CREATE INDEX repository_growth_days_day_idx ON repository_growth_days (day) INCLUDE (repository_id, stream_kind, pushes, growth_bytes);

INSERT INTO repository_growth_days (repository_id, stream_kind, day, pushes, growth_bytes)
SELECT repository_id, stream_kind, (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(total_bytes - from_bytes)
FROM cache_transitions GROUP BY 1, 2, 3;

-- Each repository's comparisons per day (UTC), of the stream kind its
-- figures use (as cache_history shows them), read by key per repository.
CREATE VIEW repository_growth AS
SELECT r.registry, r.name AS repository, g.day, g.pushes, g.growth_bytes
FROM repositories r
JOIN repository_growth_days g ON g.repository_id = r.id
 AND g.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = r.id) THEN 'tag' ELSE 'created' END;

CREATE INDEX cache_transitions_repo_growth_idx ON cache_transitions
    (repository_id, stream_kind, (total_bytes - from_bytes) DESC, occurred_at DESC, id) INCLUDE (from_bytes, total_bytes);

ALTER TABLE manifest_layers ALTER COLUMN manifest_digest SET STATISTICS 1000, ALTER COLUMN blob_digest SET STATISTICS 1000;
ANALYZE manifest_layers;

-- The cache rollups take each comparison's earlier layer bytes too, for
-- the growth counts: a new signature (the function files give the
-- callers theirs).
DROP FUNCTION layerq_cache_rollup_rows(bigint[], text[], timestamptz[], integer[], integer[], bigint[], bigint[], text[], boolean[], integer);
-- +goose StatementBegin
CREATE FUNCTION layerq_cache_rollup_rows(p_repo bigint[], p_kind text[], p_at timestamptz[], p_reused integer[],
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

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON growth_days, repository_growth_days FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- The cache rollups and the trigger's function as they were before
-- (00020's file); the fold's own file is the same as before too.
DROP FUNCTION layerq_cache_rollup_rows(bigint[], text[], timestamptz[], integer[], integer[], bigint[], bigint[], bigint[], text[], boolean[], integer);
-- +goose StatementBegin
CREATE FUNCTION layerq_cache_rollup_rows(p_repo bigint[], p_kind text[], p_at timestamptz[], p_reused integer[],
    p_total integer[], p_reused_bytes bigint[], p_total_bytes bigint[], p_step text[], p_base boolean[], p_sign integer)
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF p_repo IS NULL THEN
        RETURN;
    END IF;
    WITH x AS (
        SELECT * FROM unnest(p_repo, p_kind, p_at, p_reused, p_total, p_reused_bytes, p_total_bytes, p_step, p_base)
            AS u(repository_id, stream_kind, occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, step, base)
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_rollup(p_ids bigint[], p_sign integer) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    PERFORM layerq_cache_rollup_rows(
        array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
        array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(step),
        array_agg(first_changed_position = 0 OR base_moved), p_sign)
    FROM cache_transitions WHERE id = ANY (p_ids);
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
        -- figures are its tags' from now on, and its busters too.
        IF tagged IS NOT NULL THEN
            INSERT INTO cache_step_totals AS t (step, base_changed, pushes, repositories)
            SELECT step, base_changed, -sum(pushes), -count(*)::integer FROM cache_steps
            WHERE repository_id = ANY (tagged) AND stream_kind = 'created' AND pushes > 0
            GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (step, base_changed) DO UPDATE
            SET pushes = t.pushes + excluded.pushes, repositories = t.repositories + excluded.repositories;
        END IF;
        PERFORM layerq_cache_rollup(array_agg(id), 1) FROM new_rows;
        RETURN NULL;
    END IF;
    -- A delete, or an update (a base move found later): out with the old.
    PERFORM layerq_cache_rollup_rows(
        array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
        array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(step),
        array_agg(first_changed_position = 0 OR base_moved), -1)
    FROM old_rows;
    IF TG_OP = 'UPDATE' THEN
        PERFORM layerq_cache_rollup(array_agg(id), 1) FROM new_rows;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
ALTER TABLE manifest_layers ALTER COLUMN manifest_digest SET STATISTICS -1, ALTER COLUMN blob_digest SET STATISTICS -1;
DROP INDEX cache_transitions_repo_growth_idx;
DROP VIEW repository_growth;
DROP TABLE repository_growth_days;
DROP TABLE growth_days;
