-- New memberships (repository p_repo[i] holds manifest p_manifest[i] for the
-- first time; called once per membership) count their images as builds of
-- the created streams and put right every created stream they touch: those
-- of new images, and of the images of new indexes, under each platform such
-- an image has or had in its repository (its config's, and those its
-- repository's indexes declare). Such a stream becomes its builds in
-- order, each with the build before it: transitions no longer so are
-- deleted, missing ones compared and added.
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

-- Put right every created stream the memberships (p_repo[i], p_manifest[i])
-- touch, as layerq_extend_created_streams does after counting them as
-- builds: each such stream becomes its builds in order (cache_build_platforms),
-- each compared with the build before it.
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
