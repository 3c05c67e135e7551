-- The image each image is built on (image_bases) and the live images per
-- (base, repository) (base_repositories).

-- Live image counts per (base, repository) follow membership changes of the
-- images whose base is known.
CREATE OR REPLACE FUNCTION layerq_apply_base_membership(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    WITH ch AS (
        SELECT u.r AS repository_id, u.m AS manifest_digest, sum(u.d)::integer AS delta
        FROM unnest(p_repo, p_manifest, p_delta) AS u(r, m, d)
        GROUP BY 1, 2 HAVING sum(u.d) <> 0
    ),
    bases AS (
        SELECT ib.manifest_digest, ib.base_digest FROM image_bases ib
        WHERE ib.manifest_digest IN (SELECT manifest_digest FROM ch)
    )
    INSERT INTO base_repositories AS t (base_digest, repository_id, images)
    SELECT b.base_digest, ch.repository_id, sum(ch.delta)::integer
    FROM ch JOIN bases b USING (manifest_digest)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (base_digest, repository_id) DO UPDATE SET images = t.images + excluded.images;
END;
$$;

-- Work out the bases of p_images (image manifests), store the ones that
-- changed, and move their live images' counts to the new base.
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

-- Keep base_build_rows (what the view base_builds shows) as the graph says
-- now: each base build in use (live images built on it, in how many
-- repositories), the tag that names it (one pointing at it or at an index
-- holding it now, else the one that did last) and, when that tag has moved
-- on, the build of the same platform it points at now. The fold calls it
-- after each batch; it writes only the rows that changed.
CREATE OR REPLACE FUNCTION layerq_refresh_base_builds() RETURNS void
LANGUAGE sql AS $$
    WITH builds AS (
        SELECT base_digest, sum(images)::bigint AS images, count(*)::bigint AS repositories
        FROM base_repositories WHERE images > 0 GROUP BY 1
    ),
    refs AS (
        SELECT base_digest, base_digest AS ref FROM builds
        UNION ALL
        SELECT b.base_digest, c.index_digest FROM builds b JOIN index_children c ON c.child_digest = b.base_digest
    ),
    tagged AS (
        -- Live tags pointing at the build (or an index holding it) now.
        SELECT DISTINCT ON (f.base_digest) f.base_digest, t.repository_id, t.name AS tag
        FROM refs f JOIN tags t ON t.manifest_digest = f.ref AND t.deleted_at IS NULL
        ORDER BY f.base_digest, t.updated_at DESC, t.name, t.repository_id
    ),
    last AS (
        -- Otherwise the tag that pointed at it last.
        SELECT DISTINCT ON (f.base_digest) f.base_digest, e.repository_id, e.tag
        FROM refs f JOIN tag_events e ON e.manifest_digest = f.ref AND e.action = 'push'
        WHERE NOT EXISTS (SELECT FROM tagged g WHERE g.base_digest = f.base_digest)
        ORDER BY f.base_digest, e.occurred_at DESC, e.id DESC
    ),
    named AS (
        SELECT base_digest, repository_id, tag, true AS current FROM tagged
        UNION ALL
        SELECT base_digest, repository_id, tag, false FROM last
    ),
    state AS (
        SELECT b.base_digest, b.images, b.repositories,
            coalesce(n.repository_id, (SELECT rm.repository_id FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
                                       WHERE rm.manifest_digest = b.base_digest
                                       ORDER BY rm.deleted_at IS NOT NULL, r.name, r.registry, rm.repository_id LIMIT 1)) AS base_repository_id,
            coalesce(n.tag, '') AS base_tag,
            CASE WHEN n.current THEN b.base_digest ELSE cur.image END AS current_digest,
            (NOT coalesce(n.current, true) AND cur.image IS NOT NULL AND cur.image <> b.base_digest) AS stale
        FROM builds b
        LEFT JOIN named n USING (base_digest)
        LEFT JOIN tags t ON NOT n.current AND t.repository_id = n.repository_id AND t.name = n.tag AND t.deleted_at IS NULL
        LEFT JOIN LATERAL (
            SELECT p.image FROM layerq_platform_images(t.manifest_digest) p
            JOIN manifests bm ON bm.digest = b.base_digest
            WHERE p.platform = layerq_platform(bm.os, bm.architecture, bm.variant)
        ) cur ON true
    ),
    gone AS (
        DELETE FROM base_build_rows k WHERE NOT EXISTS (SELECT FROM state n WHERE n.base_digest = k.base_digest)
    )
    INSERT INTO base_build_rows AS k (base_digest, images, repositories, base_repository_id, base_tag, current_digest, stale)
    SELECT base_digest, images, repositories, base_repository_id, base_tag, current_digest, stale FROM state
    ORDER BY base_digest
    ON CONFLICT (base_digest) DO UPDATE
    SET images = excluded.images, repositories = excluded.repositories, base_repository_id = excluded.base_repository_id,
        base_tag = excluded.base_tag, current_digest = excluded.current_digest, stale = excluded.stale
    WHERE (k.images, k.repositories, k.base_repository_id, k.base_tag, k.current_digest, k.stale)
          IS DISTINCT FROM (excluded.images, excluded.repositories, excluded.base_repository_id, excluded.base_tag, excluded.current_digest, excluded.stale);
$$;

-- base_dependents: each base's (a tag, base_build_rows' base_repository_id
-- and base_tag) live images per dependent repository, summed over its
-- builds in use, and those on its stale builds. Two statement triggers
-- keep it: a change of base_repositories counts under the build's base as
-- base_build_rows names it then (nothing for a build it does not hold), and
-- a change of base_build_rows (a build in use or no longer, renamed, gone
-- stale) moves the build's counts as base_repositories holds them then
-- from its old base to its new one. Each build's share of a base is thus
-- always its counts now. Rows that fall to 0 stay (readers ask for
-- images > 0), as in base_repositories.

-- Add changes of (base, dependent repository) counts to base_dependents,
-- one row per key: what both triggers below work out.
CREATE OR REPLACE FUNCTION layerq_add_base_dependents(p_base bigint[], p_tag text[], p_repo bigint[], p_images bigint[], p_stale bigint[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO base_dependents AS t (base_repository_id, base_tag, repository_id, images, stale_images)
    SELECT b, g, r, i, s FROM unnest(p_base, p_tag, p_repo, p_images, p_stale) AS u(b, g, r, i, s)
    ORDER BY 1, 2, 3
    ON CONFLICT (base_repository_id, base_tag, repository_id) DO UPDATE
    SET images = t.images + excluded.images, stale_images = t.stale_images + excluded.stale_images;
$$;

CREATE OR REPLACE FUNCTION layerq_base_counts_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b text[]; r bigint[]; d bigint[];
BEGIN
    -- A trigger's function reads only the transition tables its event has.
    IF TG_OP <> 'DELETE' THEN
        SELECT array_agg(base_digest), array_agg(repository_id), array_agg(images::bigint) INTO b, r, d FROM new_rows;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT b || array_agg(base_digest), r || array_agg(repository_id), d || array_agg(-images::bigint) INTO b, r, d FROM old_rows;
    END IF;
    PERFORM layerq_add_base_dependents(array_agg(x.base), array_agg(x.tag), array_agg(x.repo), array_agg(x.images), array_agg(x.stale))
    FROM (
        SELECT k.base_repository_id AS base, k.base_tag AS tag, c.repository_id AS repo, sum(c.d)::bigint AS images,
            coalesce(sum(c.d) FILTER (WHERE k.stale), 0)::bigint AS stale
        FROM unnest(b, r, d) AS c(base_digest, repository_id, d)
        JOIN base_build_rows k ON k.base_digest = c.base_digest AND k.base_repository_id IS NOT NULL
        GROUP BY 1, 2, 3 HAVING sum(c.d) <> 0 OR sum(c.d) FILTER (WHERE k.stale) <> 0
    ) x;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION layerq_base_builds_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b text[]; r bigint[]; g text[]; s boolean[]; n integer[];
BEGIN
    IF TG_OP <> 'DELETE' THEN
        SELECT array_agg(base_digest), array_agg(base_repository_id), array_agg(base_tag), array_agg(stale), array_agg(1)
        INTO b, r, g, s, n FROM new_rows;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT b || array_agg(base_digest), r || array_agg(base_repository_id), g || array_agg(base_tag), s || array_agg(stale), n || array_agg(-1)
        INTO b, r, g, s, n FROM old_rows;
    END IF;
    PERFORM layerq_add_base_dependents(array_agg(x.base), array_agg(x.tag), array_agg(x.repo), array_agg(x.images), array_agg(x.stale))
    FROM (
        SELECT c.base_repository_id AS base, c.base_tag AS tag, br.repository_id AS repo, sum(c.sign * br.images)::bigint AS images,
            coalesce(sum(c.sign * br.images) FILTER (WHERE c.stale), 0)::bigint AS stale
        FROM unnest(b, r, g, s, n) AS c(base_digest, base_repository_id, base_tag, stale, sign)
        JOIN base_repositories br ON br.base_digest = c.base_digest
        WHERE c.base_repository_id IS NOT NULL
        GROUP BY 1, 2, 3 HAVING sum(c.sign * br.images) <> 0 OR sum(c.sign * br.images) FILTER (WHERE c.stale) <> 0
    ) x;
    RETURN NULL;
END;
$$;
