-- Cache busters tell a base move from a lost cache; pushes ranked by growth.
--
-- `layerq cache` named a build's first changed layer as its cache buster.
-- When the image's base had moved to a new build (the base tag pushed
-- again), that layer is the new base's: "RUN apt-get update" of the base,
-- read as a step of the image, got the advice for a lost build cache. Each
-- compared build now records the base builds of both sides (image_bases)
-- and whether the base moved: the two differ and the first change is among
-- the new base's layers (layerq_base_move, sql/functions/cache_rollup.sql).
-- cache_steps counts those with the base changes (base_changed), whose
-- advice fits; the report names the move, old build to new, and so does
-- the view cache_history.
--
-- Each compared build also keeps the earlier build's layer bytes
-- (from_bytes; total_bytes is the later build's), indexed by their
-- difference: `layerq growth` lists the pushes that grew most from that
-- index.
--
-- The fold sets both as it inserts the comparisons (layerq_compare_pairs
-- returns from_bytes); when a base is found or changes later,
-- layerq_recompute_bases updates the comparisons from or to the images
-- whose base changed, and an update trigger moves the rollups with them.
-- This migration works both out for every comparison already kept, then
-- recounts cache_steps.

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);

ALTER TABLE cache_transitions
    ADD COLUMN base_from  text,    -- image_bases of from_digest, NULL when none is known
    ADD COLUMN base_to    text,    -- image_bases of to_digest
    ADD COLUMN base_moved boolean NOT NULL DEFAULT false,
    ADD COLUMN from_bytes bigint NOT NULL DEFAULT 0; -- from_digest's layer bytes (total_bytes is to_digest's)

DROP FUNCTION layerq_cache_rollup_rows(bigint[], text[], timestamptz[], integer[], integer[], bigint[], bigint[], text[], integer[], integer);
DROP FUNCTION layerq_compare_pairs(text[], text[]);
-- +goose StatementBegin
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
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_compare_pairs(p_from text[], p_to text[])
RETURNS TABLE (from_digest text, to_digest text, reused_layers integer, total_layers integer, reused_bytes bigint,
               total_bytes bigint, first_changed_position integer, first_changed_step text, from_bytes bigint)
LANGUAGE sql STABLE AS $$
    WITH p AS (
        SELECT DISTINCT f, t FROM unnest(p_from, p_to) AS u(f, t)
    ),
    l AS (
        SELECT p.f, p.t, tl.position, tl.created_by, b.size,
            coalesce(fl.position IS NOT NULL AND (fl.chain_id = tl.chain_id
                OR ((fl.chain_id IS NULL OR tl.chain_id IS NULL) AND fl.blob_digest = tl.blob_digest)), false) AS same
        FROM p
        JOIN manifest_layers tl ON tl.manifest_digest = p.t
        JOIN blobs b ON b.digest = tl.blob_digest
        LEFT JOIN manifest_layers fl ON fl.manifest_digest = p.f AND fl.position = tl.position
    ),
    w AS (
        SELECT l.*, min(l.position) FILTER (WHERE NOT l.same) OVER (PARTITION BY l.f, l.t) AS first FROM l
    ),
    fb AS (
        SELECT d.f, coalesce(sum(b.size), 0)::bigint AS bytes
        FROM (SELECT DISTINCT f FROM p) d
        JOIN manifest_layers fl ON fl.manifest_digest = d.f
        JOIN blobs b ON b.digest = fl.blob_digest
        GROUP BY d.f
    )
    SELECT w.f, w.t, coalesce(w.first, count(*))::integer, count(*)::integer,
        coalesce(sum(w.size) FILTER (WHERE w.first IS NULL OR w.position < w.first), 0)::bigint,
        coalesce(sum(w.size), 0)::bigint, w.first,
        max(w.created_by) FILTER (WHERE w.position = w.first),
        coalesce(min(fb.bytes), 0)::bigint
    FROM w
    LEFT JOIN fb ON fb.f = w.f
    GROUP BY w.f, w.t, w.first
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_add_tag_transitions(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    e_repo bigint[]; e_tag text[]; e_id bigint[]; e_at timestamptz[]; e_platform text[]; e_from text[]; e_to text[];
BEGIN
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT e.repository_id, 'tag', count(*)
    FROM tag_events e
    CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) i
    WHERE e.id = ANY (p_ids) AND e.action = 'push'
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (repository_id, stream_kind) DO UPDATE SET builds = t.builds + excluded.builds;

    SELECT array_agg(x.repository_id ORDER BY x.id, x.platform), array_agg(x.tag ORDER BY x.id, x.platform),
        array_agg(x.id ORDER BY x.id, x.platform), array_agg(x.occurred_at ORDER BY x.id, x.platform),
        array_agg(x.platform ORDER BY x.id, x.platform), array_agg(x.from_image ORDER BY x.id, x.platform),
        array_agg(x.to_image ORDER BY x.id, x.platform)
    INTO e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to
    FROM (
        SELECT e.repository_id, e.tag, e.id, e.occurred_at, t.platform, f.image AS from_image, t.image AS to_image
        FROM tag_events e
        CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) t
        JOIN LATERAL layerq_stream_images(e.repository_id, e.previous_digest) f ON f.platform = t.platform
        WHERE e.id = ANY (p_ids) AND e.action = 'push' AND e.previous_digest IS NOT NULL
          AND e.previous_digest <> e.manifest_digest
    ) x;
    IF e_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, tag_event_id, from_digest, to_digest,
        occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step,
        from_bytes, base_from, base_to, base_moved)
    SELECT u.repository_id, 'tag', u.tag, u.platform, u.id, u.f, u.t, u.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step,
        c.from_bytes, m.base_from, m.base_to, m.base_moved
    FROM unnest(e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to) AS u(repository_id, tag, id, at, platform, f, t)
    JOIN layerq_compare_pairs(e_from, e_to) c ON c.from_digest = u.f AND c.to_digest = u.t
    CROSS JOIN LATERAL layerq_base_move(u.f, u.t, c.first_changed_position) m
    ORDER BY u.id, u.platform
    ON CONFLICT DO NOTHING;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_extend_created_streams(p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    s_repo bigint[]; s_platform text[];
    gone bigint[];
    o_repo bigint[]; o_platform text[]; o_digest text[]; o_prev text[]; o_at timestamptz[];
BEGIN
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT u.r, 'created', count(DISTINCT u.m)
    FROM unnest(p_repo, p_manifest) AS u(r, m)
    JOIN manifests m ON m.digest = u.m AND m.kind = 'image' AND m.layer_count > 0
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (repository_id, stream_kind) DO UPDATE SET builds = t.builds + excluded.builds;

    WITH new AS (
        SELECT DISTINCT u.r AS repository_id, u.m AS digest FROM unnest(p_repo, p_manifest) AS u(r, m)
    ),
    touched AS (
        SELECT n.repository_id, n.digest AS image FROM new n
        UNION
        SELECT n.repository_id, c.child_digest FROM new n JOIN index_children c ON c.index_digest = n.digest
    ),
    platforms AS (
        SELECT t.repository_id, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM touched t JOIN manifests m ON m.digest = t.image AND m.kind = 'image' AND m.layer_count > 0
        UNION
        SELECT t.repository_id, layerq_platform(c.os, c.architecture, c.variant)
        FROM touched t
        JOIN manifests m ON m.digest = t.image AND m.kind = 'image' AND m.layer_count > 0
        JOIN index_children c ON c.child_digest = t.image AND c.architecture IS NOT NULL AND coalesce(c.os, '') <> 'unknown'
        JOIN repository_manifests ri ON ri.repository_id = t.repository_id AND ri.manifest_digest = c.index_digest
    )
    SELECT array_agg(repository_id ORDER BY repository_id, platform), array_agg(platform ORDER BY repository_id, platform)
    INTO s_repo, s_platform
    FROM platforms;

    IF s_repo IS NULL THEN
        RETURN;
    END IF;

    WITH s AS (
        SELECT * FROM unnest(s_repo, s_platform) AS s(repository_id, platform)
    ),
    members AS (
        SELECT b.repository_id, b.platform, b.image, b.built_at
        FROM cache_build_platforms b
        JOIN s USING (repository_id, platform)
        WHERE b.repository_id = ANY (s_repo)
    ),
    pairs AS MATERIALIZED (
        SELECT * FROM (
            SELECT repository_id, platform, lag(image) OVER w AS prev, image AS digest, built_at AS at
            FROM members
            WINDOW w AS (PARTITION BY repository_id, platform ORDER BY built_at, image)
        ) x WHERE prev IS NOT NULL
    ),
    have AS MATERIALIZED (
        SELECT ct.id, ct.repository_id, ct.platform, ct.from_digest, ct.to_digest
        FROM cache_transitions ct
        JOIN s ON ct.repository_id = s.repository_id AND ct.platform = s.platform
        WHERE ct.stream_kind = 'created'
    ),
    missing AS (
        SELECT p.* FROM pairs p
        WHERE NOT EXISTS (SELECT 1 FROM have h WHERE h.repository_id = p.repository_id AND h.platform = p.platform
                            AND h.from_digest = p.prev AND h.to_digest = p.digest)
    )
    SELECT (SELECT array_agg(h.id ORDER BY h.id) FROM have h
            WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.repository_id = h.repository_id AND p.platform = h.platform
                                AND p.prev = h.from_digest AND p.digest = h.to_digest)),
        (SELECT array_agg(repository_id ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(platform ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(digest ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(prev ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(at ORDER BY repository_id, platform, prev) FROM missing)
    INTO gone, o_repo, o_platform, o_digest, o_prev, o_at;

    IF gone IS NOT NULL THEN
        DELETE FROM cache_transitions WHERE id = ANY (gone);
    END IF;
    IF o_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at,
        reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step,
        from_bytes, base_from, base_to, base_moved)
    SELECT o.repository_id, 'created', '', o.platform, o.prev, o.digest, o.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step,
        c.from_bytes, m.base_from, m.base_to, m.base_moved
    FROM unnest(o_repo, o_platform, o_digest, o_prev, o_at) AS o(repository_id, platform, digest, prev, at)
    JOIN layerq_compare_pairs(o_prev, o_digest) c ON c.from_digest = o.prev AND c.to_digest = o.digest
    CROSS JOIN LATERAL layerq_base_move(o.prev, o.digest, c.first_changed_position) m
    ORDER BY o.repository_id, o.platform, o.prev;
END;
$$;
-- +goose StatementEnd

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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_recompute_bases(p_images text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    ch_digest text[]; ch_old text[]; ch_new text[]; ch_source text[];
BEGIN
    IF p_images IS NULL OR cardinality(p_images) = 0 THEN
        RETURN;
    END IF;
    WITH s AS (
        SELECT m.digest, m.layer_count, m.base_digest AS annotated, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM manifests m WHERE m.digest = ANY (p_images) AND m.kind = 'image'
    ),
    annotated AS (
        SELECT DISTINCT ON (s.digest) s.digest, b.digest AS base, b.layer_count
        FROM s
        JOIN LATERAL (
            SELECT bm.digest, bm.layer_count, 0 AS pos FROM manifests bm
            WHERE bm.digest = s.annotated AND bm.kind = 'image'
            UNION ALL
            SELECT c.child_digest, cm.layer_count, c.position FROM index_children c
            JOIN manifests cm ON cm.digest = c.child_digest AND cm.kind = 'image'
            WHERE c.index_digest = s.annotated AND layerq_platform(c.os, c.architecture, c.variant) = s.platform
        ) b ON true
        WHERE s.annotated IS NOT NULL AND b.digest <> s.digest
        ORDER BY s.digest, b.pos
    ),
    chained AS (
        SELECT DISTINCT ON (s.digest) s.digest, b.digest AS base, b.layer_count
        FROM s
        JOIN manifest_layers ml ON ml.manifest_digest = s.digest
        JOIN image_tops it ON it.top_chain_id = ml.chain_id AND it.layer_count = ml.position + 1
        JOIN manifests b ON b.digest = it.manifest_digest
        WHERE b.digest <> s.digest AND b.layer_count < s.layer_count
          AND EXISTS (
            SELECT 1 FROM repository_manifests rb
            WHERE rb.manifest_digest = b.digest
              AND NOT EXISTS (SELECT 1 FROM repository_manifests rs
                              WHERE rs.manifest_digest = s.digest AND rs.repository_id = rb.repository_id))
        ORDER BY s.digest, b.layer_count DESC, b.created DESC NULLS LAST, b.digest
    ),
    best AS (
        SELECT s.digest, coalesce(a.base, c.base) AS base, coalesce(a.layer_count, c.layer_count) AS layers,
            CASE WHEN a.base IS NOT NULL THEN 'annotation' ELSE 'chain' END AS source
        FROM s
        LEFT JOIN annotated a USING (digest)
        LEFT JOIN chained c USING (digest)
    ),
    stored AS (
        SELECT ib.manifest_digest, ib.base_digest, ib.source FROM image_bases ib
        WHERE ib.manifest_digest IN (SELECT digest FROM best)
    )
    SELECT array_agg(b.digest ORDER BY b.digest), array_agg(l.base_digest ORDER BY b.digest), array_agg(b.base ORDER BY b.digest),
        array_agg(b.source ORDER BY b.digest)
    INTO ch_digest, ch_old, ch_new, ch_source
    FROM best b LEFT JOIN stored l ON l.manifest_digest = b.digest
    WHERE b.base IS DISTINCT FROM l.base_digest OR (b.base IS NOT NULL AND b.source IS DISTINCT FROM l.source);

    IF ch_digest IS NULL THEN
        RETURN;
    END IF;

    DELETE FROM image_bases WHERE manifest_digest = ANY (ch_digest);
    INSERT INTO image_bases (manifest_digest, base_digest, base_layers, source)
    SELECT s.digest, s.base, bm.layer_count, s.source
    FROM unnest(ch_digest, ch_new, ch_source) AS s(digest, base, source)
    JOIN manifests bm ON bm.digest = s.base
    WHERE s.base IS NOT NULL
    ORDER BY s.digest;

    -- The applier's snapshot holds exactly the memberships counted so far
    -- (layerq_apply_base_membership ran first): move them to the new base.
    WITH moved AS (
        SELECT u.old, u.new, rm.repository_id
        FROM unnest(ch_digest, ch_old, ch_new) AS u(digest, old, new)
        JOIN repository_manifests rm ON rm.manifest_digest = u.digest AND rm.deleted_at IS NULL
    )
    INSERT INTO base_repositories AS t (base_digest, repository_id, images)
    SELECT base, repository_id, sum(d)::integer FROM (
        SELECT old AS base, repository_id, -1 AS d FROM moved WHERE old IS NOT NULL
        UNION ALL
        SELECT new, repository_id, 1 FROM moved WHERE new IS NOT NULL
    ) x GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
    ON CONFLICT (base_digest, repository_id) DO UPDATE SET images = t.images + excluded.images;

    -- Builds compared from or to these images: whether their base moved
    -- (the update trigger moves the cache rollups with them).
    UPDATE cache_transitions t
    SET base_from = m.base_from, base_to = m.base_to, base_moved = m.base_moved
    FROM (
        SELECT c.id, b.base_from, b.base_to, b.base_moved
        FROM (SELECT id, from_digest, to_digest, first_changed_position FROM cache_transitions WHERE from_digest = ANY (ch_digest)
              UNION
              SELECT id, from_digest, to_digest, first_changed_position FROM cache_transitions WHERE to_digest = ANY (ch_digest)) c
        CROSS JOIN LATERAL layerq_base_move(c.from_digest, c.to_digest, c.first_changed_position) b
    ) m
    WHERE t.id = m.id AND (t.base_from, t.base_to, t.base_moved) IS DISTINCT FROM (m.base_from, m.base_to, m.base_moved);
END;
$$;
-- +goose StatementEnd

-- Every comparison's facts, each earlier build's bytes summed once; the
-- indexes come after, built once over the rows as they end.
WITH f AS (
    SELECT ml.manifest_digest, sum(b.size)::bigint AS bytes
    FROM manifest_layers ml JOIN blobs b ON b.digest = ml.blob_digest
    WHERE ml.manifest_digest IN (SELECT DISTINCT from_digest FROM cache_transitions)
    GROUP BY 1
)
UPDATE cache_transitions t
SET base_from = m.base_from, base_to = m.base_to, base_moved = m.base_moved, from_bytes = coalesce(f.bytes, 0)
FROM cache_transitions c
CROSS JOIN LATERAL layerq_base_move(c.from_digest, c.to_digest, c.first_changed_position) m
LEFT JOIN f ON f.manifest_digest = c.from_digest
WHERE t.id = c.id;

-- layerq_recompute_bases finds the comparisons of images whose base changed.
CREATE INDEX cache_transitions_from_idx ON cache_transitions (from_digest);
CREATE INDEX cache_transitions_to_idx ON cache_transitions (to_digest);
-- layerq growth lists the pushes that grew most first.
CREATE INDEX cache_transitions_growth_idx ON cache_transitions ((total_bytes - from_bytes) DESC, occurred_at DESC, id);
-- A window's comparisons (cache --since, growth --since) read from the
-- index alone, base moves and growth included.
DROP INDEX cache_transitions_window_idx;
CREATE INDEX cache_transitions_window_idx ON cache_transitions (occurred_at)
    INCLUDE (repository_id, stream_kind, reused_layers, total_layers, reused_bytes, total_bytes, step, first_changed_position,
             base_moved, from_bytes);

DELETE FROM cache_steps;
INSERT INTO cache_steps (repository_id, stream_kind, step, base_changed, pushes)
SELECT repository_id, stream_kind, step, first_changed_position = 0 OR base_moved, count(*)::integer
FROM cache_transitions WHERE step IS NOT NULL
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

-- The streams' comparisons as the dashboards read them: a base move gets
-- the base's advice, and says so.
CREATE OR REPLACE VIEW cache_history AS
SELECT t.id, r.registry, r.name AS repository, t.stream_kind, t.stream, t.platform,
    t.from_digest, t.to_digest, t.occurred_at, t.reused_layers, t.total_layers,
    t.reused_bytes, t.total_bytes, t.first_changed_position, t.first_changed_step,
    t.step, layerq_cache_advice(t.step, CASE WHEN t.first_changed_position = 0 OR t.base_moved THEN 0 ELSE 1 END) AS advice,
    t.base_moved, t.base_from, t.base_to, t.from_bytes
FROM cache_transitions t
JOIN repositories r ON r.id = t.repository_id
LEFT JOIN cache_tagged_repositories x ON x.repository_id = t.repository_id
WHERE t.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END;

CREATE TRIGGER cache_transitions_updated AFTER UPDATE ON cache_transitions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_transitions_changed();

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);
DROP VIEW cache_history;
CREATE VIEW cache_history AS
SELECT t.id, r.registry, r.name AS repository, t.stream_kind, t.stream, t.platform,
    t.from_digest, t.to_digest, t.occurred_at, t.reused_layers, t.total_layers,
    t.reused_bytes, t.total_bytes, t.first_changed_position, t.first_changed_step,
    t.step, layerq_cache_advice(t.step, t.first_changed_position) AS advice
FROM cache_transitions t
JOIN repositories r ON r.id = t.repository_id
LEFT JOIN cache_tagged_repositories x ON x.repository_id = t.repository_id
WHERE t.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END;
DROP TRIGGER cache_transitions_updated ON cache_transitions;
DROP FUNCTION layerq_cache_rollup_rows(bigint[], text[], timestamptz[], integer[], integer[], bigint[], bigint[], text[], boolean[], integer);
DROP FUNCTION layerq_compare_pairs(text[], text[]);
-- The functions as they were.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_compare_pairs(p_from text[], p_to text[])
RETURNS TABLE (from_digest text, to_digest text, reused_layers integer, total_layers integer, reused_bytes bigint,
               total_bytes bigint, first_changed_position integer, first_changed_step text)
LANGUAGE sql STABLE AS $$
    WITH p AS (
        SELECT DISTINCT f, t FROM unnest(p_from, p_to) AS u(f, t)
    ),
    l AS (
        SELECT p.f, p.t, tl.position, tl.created_by, b.size,
            coalesce(fl.position IS NOT NULL AND (fl.chain_id = tl.chain_id
                OR ((fl.chain_id IS NULL OR tl.chain_id IS NULL) AND fl.blob_digest = tl.blob_digest)), false) AS same
        FROM p
        JOIN manifest_layers tl ON tl.manifest_digest = p.t
        JOIN blobs b ON b.digest = tl.blob_digest
        LEFT JOIN manifest_layers fl ON fl.manifest_digest = p.f AND fl.position = tl.position
    ),
    w AS (
        SELECT l.*, min(l.position) FILTER (WHERE NOT l.same) OVER (PARTITION BY l.f, l.t) AS first FROM l
    )
    SELECT f, t, coalesce(first, count(*))::integer, count(*)::integer,
        coalesce(sum(size) FILTER (WHERE first IS NULL OR position < first), 0)::bigint,
        coalesce(sum(size), 0)::bigint, first,
        max(created_by) FILTER (WHERE position = first)
    FROM w
    GROUP BY f, t, first
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_add_tag_transitions(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    e_repo bigint[]; e_tag text[]; e_id bigint[]; e_at timestamptz[]; e_platform text[]; e_from text[]; e_to text[];
BEGIN
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT e.repository_id, 'tag', count(*)
    FROM tag_events e
    CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) i
    WHERE e.id = ANY (p_ids) AND e.action = 'push'
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (repository_id, stream_kind) DO UPDATE SET builds = t.builds + excluded.builds;

    SELECT array_agg(x.repository_id ORDER BY x.id, x.platform), array_agg(x.tag ORDER BY x.id, x.platform),
        array_agg(x.id ORDER BY x.id, x.platform), array_agg(x.occurred_at ORDER BY x.id, x.platform),
        array_agg(x.platform ORDER BY x.id, x.platform), array_agg(x.from_image ORDER BY x.id, x.platform),
        array_agg(x.to_image ORDER BY x.id, x.platform)
    INTO e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to
    FROM (
        SELECT e.repository_id, e.tag, e.id, e.occurred_at, t.platform, f.image AS from_image, t.image AS to_image
        FROM tag_events e
        CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) t
        JOIN LATERAL layerq_stream_images(e.repository_id, e.previous_digest) f ON f.platform = t.platform
        WHERE e.id = ANY (p_ids) AND e.action = 'push' AND e.previous_digest IS NOT NULL
          AND e.previous_digest <> e.manifest_digest
    ) x;
    IF e_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, tag_event_id, from_digest, to_digest,
        occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT u.repository_id, 'tag', u.tag, u.platform, u.id, u.f, u.t, u.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to) AS u(repository_id, tag, id, at, platform, f, t)
    JOIN layerq_compare_pairs(e_from, e_to) c ON c.from_digest = u.f AND c.to_digest = u.t
    ORDER BY u.id, u.platform
    ON CONFLICT DO NOTHING;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_extend_created_streams(p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    s_repo bigint[]; s_platform text[];
    gone bigint[];
    o_repo bigint[]; o_platform text[]; o_digest text[]; o_prev text[]; o_at timestamptz[];
BEGIN
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT u.r, 'created', count(DISTINCT u.m)
    FROM unnest(p_repo, p_manifest) AS u(r, m)
    JOIN manifests m ON m.digest = u.m AND m.kind = 'image' AND m.layer_count > 0
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (repository_id, stream_kind) DO UPDATE SET builds = t.builds + excluded.builds;

    WITH new AS (
        SELECT DISTINCT u.r AS repository_id, u.m AS digest FROM unnest(p_repo, p_manifest) AS u(r, m)
    ),
    touched AS (
        SELECT n.repository_id, n.digest AS image FROM new n
        UNION
        SELECT n.repository_id, c.child_digest FROM new n JOIN index_children c ON c.index_digest = n.digest
    ),
    platforms AS (
        SELECT t.repository_id, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM touched t JOIN manifests m ON m.digest = t.image AND m.kind = 'image' AND m.layer_count > 0
        UNION
        SELECT t.repository_id, layerq_platform(c.os, c.architecture, c.variant)
        FROM touched t
        JOIN manifests m ON m.digest = t.image AND m.kind = 'image' AND m.layer_count > 0
        JOIN index_children c ON c.child_digest = t.image AND c.architecture IS NOT NULL AND coalesce(c.os, '') <> 'unknown'
        JOIN repository_manifests ri ON ri.repository_id = t.repository_id AND ri.manifest_digest = c.index_digest
    )
    SELECT array_agg(repository_id ORDER BY repository_id, platform), array_agg(platform ORDER BY repository_id, platform)
    INTO s_repo, s_platform
    FROM platforms;

    IF s_repo IS NULL THEN
        RETURN;
    END IF;

    WITH s AS (
        SELECT * FROM unnest(s_repo, s_platform) AS s(repository_id, platform)
    ),
    members AS (
        SELECT b.repository_id, b.platform, b.image, b.built_at
        FROM cache_build_platforms b
        JOIN s USING (repository_id, platform)
        WHERE b.repository_id = ANY (s_repo)
    ),
    pairs AS MATERIALIZED (
        SELECT * FROM (
            SELECT repository_id, platform, lag(image) OVER w AS prev, image AS digest, built_at AS at
            FROM members
            WINDOW w AS (PARTITION BY repository_id, platform ORDER BY built_at, image)
        ) x WHERE prev IS NOT NULL
    ),
    have AS MATERIALIZED (
        SELECT ct.id, ct.repository_id, ct.platform, ct.from_digest, ct.to_digest
        FROM cache_transitions ct
        JOIN s ON ct.repository_id = s.repository_id AND ct.platform = s.platform
        WHERE ct.stream_kind = 'created'
    ),
    missing AS (
        SELECT p.* FROM pairs p
        WHERE NOT EXISTS (SELECT 1 FROM have h WHERE h.repository_id = p.repository_id AND h.platform = p.platform
                            AND h.from_digest = p.prev AND h.to_digest = p.digest)
    )
    SELECT (SELECT array_agg(h.id ORDER BY h.id) FROM have h
            WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.repository_id = h.repository_id AND p.platform = h.platform
                                AND p.prev = h.from_digest AND p.digest = h.to_digest)),
        (SELECT array_agg(repository_id ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(platform ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(digest ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(prev ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(at ORDER BY repository_id, platform, prev) FROM missing)
    INTO gone, o_repo, o_platform, o_digest, o_prev, o_at;

    IF gone IS NOT NULL THEN
        DELETE FROM cache_transitions WHERE id = ANY (gone);
    END IF;
    IF o_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at,
        reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT o.repository_id, 'created', '', o.platform, o.prev, o.digest, o.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(o_repo, o_platform, o_digest, o_prev, o_at) AS o(repository_id, platform, digest, prev, at)
    JOIN layerq_compare_pairs(o_prev, o_digest) c ON c.from_digest = o.prev AND c.to_digest = o.digest
    ORDER BY o.repository_id, o.platform, o.prev;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_rollup_rows(p_repo bigint[], p_kind text[], p_at timestamptz[], p_reused integer[],
    p_total integer[], p_reused_bytes bigint[], p_total_bytes bigint[], p_step text[], p_first integer[], p_sign integer)
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF p_repo IS NULL THEN
        RETURN;
    END IF;
    WITH x AS (
        SELECT * FROM unnest(p_repo, p_kind, p_at, p_reused, p_total, p_reused_bytes, p_total_bytes, p_step, p_first)
            AS u(repository_id, stream_kind, occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, step, first)
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
    SELECT repository_id, stream_kind, step, first = 0, p_sign * count(*)::integer
    FROM x WHERE step IS NOT NULL
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (repository_id, stream_kind, step, base_changed) DO UPDATE SET pushes = t.pushes + excluded.pushes;
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
        array_agg(first_changed_position), p_sign)
    FROM cache_transitions WHERE id = ANY (p_ids);
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
    ELSE
        PERFORM layerq_cache_rollup_rows(
            array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
            array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(step),
            array_agg(first_changed_position), -1)
        FROM old_rows;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_recompute_bases(p_images text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    ch_digest text[]; ch_old text[]; ch_new text[]; ch_source text[];
BEGIN
    IF p_images IS NULL OR cardinality(p_images) = 0 THEN
        RETURN;
    END IF;
    WITH s AS (
        SELECT m.digest, m.layer_count, m.base_digest AS annotated, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM manifests m WHERE m.digest = ANY (p_images) AND m.kind = 'image'
    ),
    annotated AS (
        SELECT DISTINCT ON (s.digest) s.digest, b.digest AS base, b.layer_count
        FROM s
        JOIN LATERAL (
            SELECT bm.digest, bm.layer_count, 0 AS pos FROM manifests bm
            WHERE bm.digest = s.annotated AND bm.kind = 'image'
            UNION ALL
            SELECT c.child_digest, cm.layer_count, c.position FROM index_children c
            JOIN manifests cm ON cm.digest = c.child_digest AND cm.kind = 'image'
            WHERE c.index_digest = s.annotated AND layerq_platform(c.os, c.architecture, c.variant) = s.platform
        ) b ON true
        WHERE s.annotated IS NOT NULL AND b.digest <> s.digest
        ORDER BY s.digest, b.pos
    ),
    chained AS (
        SELECT DISTINCT ON (s.digest) s.digest, b.digest AS base, b.layer_count
        FROM s
        JOIN manifest_layers ml ON ml.manifest_digest = s.digest
        JOIN image_tops it ON it.top_chain_id = ml.chain_id AND it.layer_count = ml.position + 1
        JOIN manifests b ON b.digest = it.manifest_digest
        WHERE b.digest <> s.digest AND b.layer_count < s.layer_count
          AND EXISTS (
            SELECT 1 FROM repository_manifests rb
            WHERE rb.manifest_digest = b.digest
              AND NOT EXISTS (SELECT 1 FROM repository_manifests rs
                              WHERE rs.manifest_digest = s.digest AND rs.repository_id = rb.repository_id))
        ORDER BY s.digest, b.layer_count DESC, b.created DESC NULLS LAST, b.digest
    ),
    best AS (
        SELECT s.digest, coalesce(a.base, c.base) AS base, coalesce(a.layer_count, c.layer_count) AS layers,
            CASE WHEN a.base IS NOT NULL THEN 'annotation' ELSE 'chain' END AS source
        FROM s
        LEFT JOIN annotated a USING (digest)
        LEFT JOIN chained c USING (digest)
    ),
    stored AS (
        SELECT ib.manifest_digest, ib.base_digest, ib.source FROM image_bases ib
        WHERE ib.manifest_digest IN (SELECT digest FROM best)
    )
    SELECT array_agg(b.digest ORDER BY b.digest), array_agg(l.base_digest ORDER BY b.digest), array_agg(b.base ORDER BY b.digest),
        array_agg(b.source ORDER BY b.digest)
    INTO ch_digest, ch_old, ch_new, ch_source
    FROM best b LEFT JOIN stored l ON l.manifest_digest = b.digest
    WHERE b.base IS DISTINCT FROM l.base_digest OR (b.base IS NOT NULL AND b.source IS DISTINCT FROM l.source);

    IF ch_digest IS NULL THEN
        RETURN;
    END IF;

    DELETE FROM image_bases WHERE manifest_digest = ANY (ch_digest);
    INSERT INTO image_bases (manifest_digest, base_digest, base_layers, source)
    SELECT s.digest, s.base, bm.layer_count, s.source
    FROM unnest(ch_digest, ch_new, ch_source) AS s(digest, base, source)
    JOIN manifests bm ON bm.digest = s.base
    WHERE s.base IS NOT NULL
    ORDER BY s.digest;

    -- The applier's snapshot holds exactly the memberships counted so far
    -- (layerq_apply_base_membership ran first): move them to the new base.
    WITH moved AS (
        SELECT u.old, u.new, rm.repository_id
        FROM unnest(ch_digest, ch_old, ch_new) AS u(digest, old, new)
        JOIN repository_manifests rm ON rm.manifest_digest = u.digest AND rm.deleted_at IS NULL
    )
    INSERT INTO base_repositories AS t (base_digest, repository_id, images)
    SELECT base, repository_id, sum(d)::integer FROM (
        SELECT old AS base, repository_id, -1 AS d FROM moved WHERE old IS NOT NULL
        UNION ALL
        SELECT new, repository_id, 1 FROM moved WHERE new IS NOT NULL
    ) x GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
    ON CONFLICT (base_digest, repository_id) DO UPDATE SET images = t.images + excluded.images;
END;
$$;
-- +goose StatementEnd

DROP FUNCTION layerq_base_move(text, text, integer);
DROP INDEX cache_transitions_window_idx;
CREATE INDEX cache_transitions_window_idx ON cache_transitions (occurred_at)
    INCLUDE (repository_id, stream_kind, reused_layers, total_layers, reused_bytes, total_bytes, step, first_changed_position);
DROP INDEX cache_transitions_growth_idx;
DROP INDEX cache_transitions_to_idx;
DROP INDEX cache_transitions_from_idx;
ALTER TABLE cache_transitions DROP COLUMN from_bytes, DROP COLUMN base_moved, DROP COLUMN base_to, DROP COLUMN base_from;
DELETE FROM cache_steps;
INSERT INTO cache_steps (repository_id, stream_kind, step, base_changed, pushes)
SELECT repository_id, stream_kind, step, first_changed_position = 0, count(*)::integer
FROM cache_transitions WHERE step IS NOT NULL
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
