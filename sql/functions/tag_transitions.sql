-- Tag pushes (tag events p_ids) count as builds of their tag's streams, one
-- per platform the pushed digest has (summed per repository, and kept per
-- push); a move (a push over another digest) becomes a transition per
-- platform both sides have.
CREATE OR REPLACE FUNCTION layerq_add_tag_transitions(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    e_repo bigint[]; e_tag text[]; e_id bigint[]; e_at timestamptz[]; e_platform text[]; e_from text[]; e_to text[];
BEGIN
    WITH pushes AS (
        SELECT e.id, e.repository_id, e.occurred_at, count(*)::integer AS builds
        FROM tag_events e
        CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) i
        WHERE e.id = ANY (p_ids) AND e.action = 'push'
        GROUP BY e.id
    ),
    kept AS (
        -- Each push's builds, for a window's sum (cache --since).
        INSERT INTO cache_push_builds (tag_event_id, repository_id, occurred_at, builds)
        SELECT id, repository_id, occurred_at, builds FROM pushes ORDER BY id
        ON CONFLICT DO NOTHING
    )
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT repository_id, 'tag', sum(builds)::bigint
    FROM pushes
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
