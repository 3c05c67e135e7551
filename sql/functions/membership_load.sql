-- The first fold of the memberships, counted once from the graph.
--
-- Until a fold has taken in a membership, the membership aggregates are
-- empty and the queue holds every membership change there has been, so
-- what the changes add up to is the live memberships themselves. A first
-- scan of a large registry queues them all at once; upserted one changed
-- row at a time (layerq_apply_membership_blobs, layerq_apply_content) they
-- take most of the first fold. Counted here instead, each aggregate as
-- those functions count it, by joins and groupings over the whole graph:
-- the same rows (internal/graph's TestFirstFoldCountsTheMembershipsOnce),
-- in a fraction of the time. It leaves base_repositories to layerq_apply_base_membership, as
-- the bases are worked out later in the same fold.

-- Whether the membership aggregates are as no fold has left them: none of
-- their tables holds a row (every membership a fold takes in leaves a
-- manifest_refs row, even when it nets to none).
CREATE OR REPLACE FUNCTION layerq_membership_unfolded() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM manifest_refs)
       AND NOT EXISTS (SELECT 1 FROM repository_blobs)
       AND NOT EXISTS (SELECT 1 FROM blob_usage)
       AND NOT EXISTS (SELECT 1 FROM repository_contents)
       AND NOT EXISTS (SELECT 1 FROM content_usage)
       AND NOT EXISTS (SELECT 1 FROM namespace_blobs)
       AND NOT EXISTS (SELECT 1 FROM registry_blobs)
$$;

-- Count the membership aggregates from the live memberships; only for
-- aggregates no fold has written (layerq_membership_unfolded), in the
-- fold's snapshot, with every queued membership change taken off the
-- queue.
CREATE OR REPLACE FUNCTION layerq_load_membership() RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    IF NOT layerq_membership_unfolded() THEN
        RAISE EXCEPTION 'layerq_load_membership counts the memberships afresh: only into empty aggregates';
    END IF;

    -- Each live manifest's repositories.
    INSERT INTO manifest_refs (manifest_digest, repositories)
    SELECT rm.manifest_digest, count(*)::integer
    FROM repository_manifests rm
    WHERE rm.deleted_at IS NULL
    GROUP BY 1 ORDER BY 1;

    -- Each repository's blobs: the layers and configs of its live
    -- manifests, as the per-blob fold's content reads them.
    INSERT INTO repository_blobs (repository_id, digest, size, refs, image_refs)
    SELECT rm.repository_id, c.digest, max(c.size), count(*)::integer,
        (count(*) FILTER (WHERE m.kind = 'image'))::integer
    FROM repository_manifests rm
    JOIN manifests m ON m.digest = rm.manifest_digest
    JOIN (
        SELECT DISTINCT ml.manifest_digest, ml.blob_digest AS digest, b.size
        FROM manifest_layers ml JOIN blobs b ON b.digest = ml.blob_digest
        UNION
        SELECT mf.digest, mf.config_digest, coalesce(mf.config_size, 0)
        FROM manifests mf WHERE mf.config_digest IS NOT NULL
    ) c ON c.manifest_digest = rm.manifest_digest
    WHERE rm.deleted_at IS NULL
    GROUP BY 1, 2 ORDER BY 1, 2;

    -- Each registry's holders of each blob.
    INSERT INTO registry_blobs (registry, digest, size, repositories, namespaces, sole_repository, sole_namespace)
    SELECT r.registry, rb.digest, max(rb.size), count(*)::integer,
        count(DISTINCT layerq_namespace(r.name))::integer,
        CASE WHEN count(*) = 1 THEN min(rb.repository_id) END,
        CASE WHEN count(DISTINCT layerq_namespace(r.name)) = 1 THEN min(layerq_namespace(r.name)) END
    FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
    WHERE rb.refs > 0
    GROUP BY 1, 2 ORDER BY 1, 2;

    -- Each namespace's repositories holding each blob, and the live image
    -- manifests using it summed over them.
    INSERT INTO namespace_blobs (registry, namespace, digest, refs, image_refs)
    SELECT r.registry, layerq_namespace(r.name), rb.digest,
        (count(*) FILTER (WHERE rb.refs > 0))::integer, sum(rb.image_refs)::integer
    FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

    -- Each blob's live image manifests and the repositories holding it in
    -- one, as the per-blob fold adds them up: the sizes of both sides.
    INSERT INTO blob_usage (digest, size, manifests, repositories)
    SELECT x.digest, max(x.size), sum(x.dm)::integer, sum(x.dr)::integer
    FROM (
        SELECT c.digest, c.size, 1 AS dm, 0 AS dr
        FROM manifest_refs mr
        JOIN manifests m ON m.digest = mr.manifest_digest AND m.kind = 'image'
        JOIN (
            SELECT DISTINCT ml.manifest_digest, ml.blob_digest AS digest, b.size
            FROM manifest_layers ml JOIN blobs b ON b.digest = ml.blob_digest
            UNION
            SELECT mf.digest, mf.config_digest, coalesce(mf.config_size, 0)
            FROM manifests mf WHERE mf.config_digest IS NOT NULL
        ) c ON c.manifest_digest = mr.manifest_digest
        UNION ALL
        SELECT rb.digest, rb.size, 0, 1 FROM repository_blobs rb WHERE rb.image_refs > 0
    ) x
    GROUP BY 1 ORDER BY 1;

    -- The storage totals: a repository's live manifests and their bytes,
    -- the blobs it holds, and those it alone holds in its registry.
    INSERT INTO repository_usage (repository_id, images, manifests, logical_bytes, physical_bytes, unique_bytes)
    SELECT l.repository_id, l.images, l.manifests, l.logical,
        coalesce(p.physical, 0), coalesce(u.uniq, 0)
    FROM (
        SELECT rm.repository_id, (count(*) FILTER (WHERE m.kind = 'image'))::integer AS images, count(*)::integer AS manifests,
            sum(m.layers_size + coalesce(m.config_size, 0))::bigint AS logical
        FROM repository_manifests rm JOIN manifests m ON m.digest = rm.manifest_digest
        WHERE rm.deleted_at IS NULL
        GROUP BY 1
    ) l
    LEFT JOIN (SELECT repository_id, sum(size)::bigint AS physical FROM repository_blobs WHERE refs > 0 GROUP BY 1) p USING (repository_id)
    LEFT JOIN (SELECT sole_repository AS repository_id, sum(size)::bigint AS uniq FROM registry_blobs
               WHERE sole_repository IS NOT NULL GROUP BY 1) u USING (repository_id)
    ORDER BY 1;

    -- The same per namespace, with its manifests live in two or more of
    -- its repositories.
    INSERT INTO namespace_usage (registry, namespace, images, manifests, logical_bytes, physical_bytes, unique_bytes, shared_manifests)
    SELECT l.registry, l.namespace, l.images, l.manifests, l.logical,
        coalesce(p.physical, 0), coalesce(u.uniq, 0), coalesce(s.shared, 0)
    FROM (
        SELECT r.registry, layerq_namespace(r.name) AS namespace,
            (count(*) FILTER (WHERE m.kind = 'image'))::integer AS images, count(*)::integer AS manifests,
            sum(m.layers_size + coalesce(m.config_size, 0))::bigint AS logical
        FROM repository_manifests rm
        JOIN manifests m ON m.digest = rm.manifest_digest
        JOIN repositories r ON r.id = rm.repository_id
        WHERE rm.deleted_at IS NULL
        GROUP BY 1, 2
    ) l
    LEFT JOIN (
        SELECT registry, namespace, sum(size)::bigint AS physical FROM (
            SELECT r.registry, layerq_namespace(r.name) AS namespace, rb.digest, max(rb.size) AS size
            FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
            WHERE rb.refs > 0
            GROUP BY 1, 2, 3
        ) nb GROUP BY 1, 2
    ) p USING (registry, namespace)
    LEFT JOIN (SELECT registry, sole_namespace AS namespace, sum(size)::bigint AS uniq FROM registry_blobs
               WHERE sole_namespace IS NOT NULL GROUP BY 1, 2) u USING (registry, namespace)
    LEFT JOIN (
        SELECT registry, namespace, count(*)::integer AS shared FROM (
            SELECT r.registry, layerq_namespace(r.name) AS namespace, rm.manifest_digest
            FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
            WHERE rm.deleted_at IS NULL
            GROUP BY 1, 2, 3 HAVING count(*) >= 2
        ) d GROUP BY 1, 2
    ) s USING (registry, namespace)
    ORDER BY 1, 2;

    INSERT INTO registry_usage AS t (registry, physical_bytes)
    SELECT registry, sum(size)::bigint FROM registry_blobs WHERE repositories > 0
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (registry) DO UPDATE SET physical_bytes = t.physical_bytes + excluded.physical_bytes;

    -- The layer contents a registry holds under more than one blob.
    INSERT INTO registry_contents (registry, content, encodings, stored_bytes, extra_bytes)
    SELECT rg.registry, b.diff_id, count(*)::integer, sum(b.size)::bigint, (sum(b.size) - min(b.size))::bigint
    FROM registry_blobs rg JOIN blobs b ON b.digest = rg.digest
    WHERE rg.repositories > 0 AND b.diff_id IS NOT NULL
    GROUP BY 1, 2 HAVING count(*) > 1
    ORDER BY 1, 2;

    -- And per namespace, of those (a namespace holds a content under two
    -- blobs only if its registry does).
    INSERT INTO namespace_duplicate_blobs (registry, namespace, content, encodings, stored_bytes, extra_bytes)
    SELECT nb.registry, nb.namespace, rc.content, count(*)::integer, sum(b.size)::bigint, (sum(b.size) - min(b.size))::bigint
    FROM registry_contents rc
    JOIN blobs b ON b.diff_id = rc.content
    JOIN namespace_blobs nb ON nb.registry = rc.registry AND nb.digest = b.digest AND nb.refs > 0
    GROUP BY 1, 2, 3 HAVING count(*) > 1
    ORDER BY 1, 2, 3;

    -- The per-content counts: each repository's live images holding a
    -- content, summed per namespace, and over the registry.
    INSERT INTO repository_contents (repository_id, content, images)
    SELECT rm.repository_id, c.content, count(*)::integer
    FROM repository_manifests rm
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    JOIN (
        SELECT DISTINCT ml.manifest_digest, layerq_content(b.diff_id, b.digest) AS content
        FROM manifest_layers ml JOIN blobs b ON b.digest = ml.blob_digest
    ) c ON c.manifest_digest = rm.manifest_digest
    WHERE rm.deleted_at IS NULL
    GROUP BY 1, 2 ORDER BY 1, 2;

    INSERT INTO namespace_contents (registry, namespace, content, images, repositories)
    SELECT r.registry, layerq_namespace(r.name), rc.content, sum(rc.images)::integer, count(*)::integer
    FROM repository_contents rc JOIN repositories r ON r.id = rc.repository_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

    -- A content's live images and repositories, and its live encodings'
    -- bytes (as layerq_apply_content works them out from blob_usage).
    INSERT INTO content_usage (content, images, repositories, stored_bytes, saved_bytes, encodings, extra_bytes)
    SELECT u.content, u.images, coalesce(r.repositories, 0),
        coalesce(e.stored, 0), coalesce(e.saved, 0), coalesce(e.encodings, 0), coalesce(e.extra, 0)
    FROM (
        SELECT c.content, count(*)::integer AS images
        FROM manifest_refs mr
        JOIN manifests m ON m.digest = mr.manifest_digest AND m.kind = 'image'
        JOIN (
            SELECT DISTINCT ml.manifest_digest, layerq_content(b.diff_id, b.digest) AS content
            FROM manifest_layers ml JOIN blobs b ON b.digest = ml.blob_digest
        ) c ON c.manifest_digest = mr.manifest_digest
        WHERE mr.repositories > 0
        GROUP BY 1
    ) u
    LEFT JOIN (SELECT content, count(*)::integer AS repositories FROM repository_contents WHERE images > 0 GROUP BY 1) r USING (content)
    LEFT JOIN (
        SELECT layerq_content(b.diff_id, b.digest) AS content,
            sum(bu.size)::bigint AS stored, sum(bu.size * (bu.manifests - 1))::bigint AS saved,
            count(*)::integer AS encodings, (sum(bu.size) - min(bu.size))::bigint AS extra
        FROM blob_usage bu JOIN blobs b ON b.digest = bu.digest
        WHERE bu.manifests > 0
        GROUP BY 1
    ) e USING (content)
    ORDER BY 1;

    UPDATE content_totals t
    SET contents = t.contents + d.contents, extra_bytes = t.extra_bytes + d.extra
    FROM (SELECT count(*) AS contents, coalesce(sum(extra_bytes), 0) AS extra FROM content_usage WHERE encodings > 1) d
    WHERE d.contents <> 0 OR d.extra <> 0;

    -- The live images' layers, for find.
    PERFORM layerq_load_image_layers();
END;
$$;
