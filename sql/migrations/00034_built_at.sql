-- A build stamped before Docker existed is dated when it was first seen.
--
-- The created streams (a repository's builds in the order they were built,
-- compared each with the one before) took a build's config date, unless it
-- was before 1980: then when the registry was first seen holding it. Cloud
-- Native Buildpacks stamp 1980-01-01T00:00:01Z, so their builds were
-- ordered among themselves by digest and compared out of push order, dated
-- 1980 (outside every `cache --since` window, the growth timelines and the
-- growth alerts), and kept their repository's window sums a row per day
-- from 1980. A date before 2013 is now no date (layerq_built_at, which the
-- view and the reports share). Up dates the created comparisons of the
-- repositories holding such builds again and puts their streams right; the
-- triggers on cache_transitions move the rollups with them. Down restores
-- the rule and keeps the comparisons as Up left them (and the rollups'
-- entry, which works).

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_built_at(created timestamptz, first_seen timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN created >= '2013-01-01 00:00:00+00' THEN created ELSE first_seen END
$$;
-- +goose StatementEnd

CREATE OR REPLACE VIEW cache_build_platforms AS
SELECT rm.repository_id, m.digest AS image,
    coalesce(ix.platform, layerq_platform(m.os, m.architecture, m.variant)) AS platform,
    layerq_platform(m.os, m.architecture, m.variant) AS config_platform,
    layerq_built_at(m.created, rm.first_seen) AS built_at
FROM repository_manifests rm
JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
LEFT JOIN LATERAL (
    SELECT layerq_platform(c.os, c.architecture, c.variant) AS platform
    FROM index_children c
    JOIN repository_manifests ri ON ri.repository_id = rm.repository_id AND ri.manifest_digest = c.index_digest
    WHERE c.child_digest = m.digest AND c.architecture IS NOT NULL AND coalesce(c.os, '') <> 'unknown'
    ORDER BY ri.first_seen, c.index_digest, c.position
    LIMIT 1
) ix ON true;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_extend_created_streams(p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT u.r, 'created', count(DISTINCT u.m)
    FROM unnest(p_repo, p_manifest) AS u(r, m)
    JOIN manifests m ON m.digest = u.m AND m.kind = 'image' AND m.layer_count > 0
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (repository_id, stream_kind) DO UPDATE SET builds = t.builds + excluded.builds;
    PERFORM layerq_repair_created_streams(p_repo, p_manifest);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_repair_created_streams(p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    s_repo bigint[]; s_platform text[];
    gone bigint[];
    o_repo bigint[]; o_platform text[]; o_digest text[]; o_prev text[]; o_at timestamptz[];
BEGIN
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

-- The rollups' entry as sql/functions has it: 00021 changed the signature
-- of what it calls and left the callers to the files, and the triggers run
-- it below, before the files are applied.
-- +goose StatementBegin
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
-- +goose StatementEnd

-- The comparisons of the builds now dated otherwise, then the order of
-- their streams (each comparison again between a build and the one before
-- it). The repositories are those holding a build stamped between 1980
-- (a day early: the old rule's '1980-01-01' was read in the time zone of
-- the session that made the view) and 2013; builds stamped before stay
-- dated as they were.
UPDATE cache_transitions t SET occurred_at = b.built_at
FROM cache_build_platforms b
WHERE t.stream_kind = 'created' AND b.repository_id = t.repository_id AND b.image = t.to_digest AND b.platform = t.platform
  AND t.occurred_at IS DISTINCT FROM b.built_at
  AND t.repository_id IN (SELECT rm.repository_id FROM repository_manifests rm JOIN manifests m ON m.digest = rm.manifest_digest
                          WHERE m.kind = 'image' AND m.created >= '1979-12-31 00:00:00+00' AND m.created < '2013-01-01 00:00:00+00');
SELECT layerq_repair_created_streams(array_agg(rm.repository_id), array_agg(rm.manifest_digest))
FROM repository_manifests rm JOIN manifests m ON m.digest = rm.manifest_digest
WHERE m.kind = 'image' AND m.created >= '1979-12-31 00:00:00+00' AND m.created < '2013-01-01 00:00:00+00';

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);
CREATE OR REPLACE VIEW cache_build_platforms AS
SELECT rm.repository_id, m.digest AS image,
    coalesce(ix.platform, layerq_platform(m.os, m.architecture, m.variant)) AS platform,
    layerq_platform(m.os, m.architecture, m.variant) AS config_platform,
    CASE WHEN m.created >= '1980-01-01' THEN m.created ELSE rm.first_seen END AS built_at
FROM repository_manifests rm
JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
LEFT JOIN LATERAL (
    SELECT layerq_platform(c.os, c.architecture, c.variant) AS platform
    FROM index_children c
    JOIN repository_manifests ri ON ri.repository_id = rm.repository_id AND ri.manifest_digest = c.index_digest
    WHERE c.child_digest = m.digest AND c.architecture IS NOT NULL AND coalesce(c.os, '') <> 'unknown'
    ORDER BY ri.first_seen, c.index_digest, c.position
    LIMIT 1
) ix ON true;
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
DROP FUNCTION layerq_repair_created_streams(bigint[], text[]);
DROP FUNCTION layerq_built_at(timestamptz, timestamptz);
