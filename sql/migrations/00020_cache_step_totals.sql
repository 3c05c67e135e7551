-- The registry's cache busters, kept by the fold.
--
-- `layerq cache` lists the steps most often the first to change between a
-- build and the one before it, over every repository: it grouped every
-- repository's step rows (cache_effective_steps) at each run, 134,000 at
-- 1M images (0.24 s). cache_step_totals keeps, per step and whether the
-- base changed, the comparisons and the repositories, counting each
-- repository's rows of the stream kind its cache figures use (tag once a
-- tag of it moved, created before), moved by the cache rollups' trigger
-- (layerq_cache_rollup_rows, layerq_cache_transitions_changed).
--
-- The migration folds what is queued first, with the functions as they
-- are, and sums cache_effective_steps as it then is. The fold becomes a
-- stub that takes nothing in until the function files give it its body
-- again (a fold in between, by a process of the previous release, would
-- move cache_steps without the totals).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE cache_step_totals (
    step         text NOT NULL,
    base_changed boolean NOT NULL,
    pushes       bigint NOT NULL,  -- comparisons whose first change it was
    repositories integer NOT NULL, -- repositories with one
    PRIMARY KEY (step, base_changed)
);
CREATE INDEX cache_step_totals_busts_idx ON cache_step_totals (pushes DESC, repositories DESC, step);

INSERT INTO cache_step_totals (step, base_changed, pushes, repositories)
SELECT step, base_changed, sum(pushes), count(*) FROM cache_effective_steps GROUP BY 1, 2;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON cache_step_totals FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- The rollup functions as they were before; the fold's own file is the
-- same as before too.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_rollup_rows(p_repo bigint[], p_kind text[], p_at timestamptz[], p_reused integer[],
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
    )
    INSERT INTO cache_steps AS t (repository_id, stream_kind, step, base_changed, pushes)
    SELECT repository_id, stream_kind, step, base, p_sign * count(*)::integer
    FROM x WHERE step IS NOT NULL
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (repository_id, stream_kind, step, base_changed) DO UPDATE SET pushes = t.pushes + excluded.pushes;
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_transitions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cache_tagged_repositories (repository_id)
        SELECT DISTINCT repository_id FROM new_rows WHERE stream_kind = 'tag' ORDER BY 1
        ON CONFLICT DO NOTHING;
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
DROP TABLE cache_step_totals;
