-- The per-blob chain of reference counts (manifest_refs, repository_blobs,
-- namespace_blobs, registry_blobs, blob_usage), the storage totals
-- (repository_usage, namespace_usage, registry_usage), and the layer
-- contents a namespace or registry holds under more than one blob
-- (namespace_duplicate_blobs, registry_contents). Each level changes
-- only when the level below crosses zero (namespace_blobs' image
-- references, summed over the namespace's repositories, follow each change).

-- Apply membership changes: manifest p_manifest[i] went live (+1) or dead
-- (-1) in repository p_repo[i].
CREATE OR REPLACE FUNCTION layerq_apply_membership_blobs(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    touched text[];
    crossed_registry text[];
    crossed_content text[];
    ns_registry text[];
    ns_namespace text[];
    ns_content text[];
BEGIN
    -- Manifest and repository-blob reference counts, and the per-repository
    -- and per-namespace totals that follow from the changes directly.
    WITH ch AS (
        SELECT u.r AS repository_id, u.m AS manifest_digest, sum(u.d)::integer AS delta
        FROM unnest(p_repo, p_manifest, p_delta) AS u(r, m, d)
        GROUP BY 1, 2 HAVING sum(u.d) <> 0
    ),
    chm AS (
        SELECT ch.*, m.kind = 'image' AS is_image,
            m.layers_size + coalesce(m.config_size, 0) AS bytes,
            r.registry, layerq_namespace(r.name) AS namespace
        FROM ch
        JOIN manifests m ON m.digest = ch.manifest_digest
        JOIN repositories r ON r.id = ch.repository_id
    ),
    mrin AS (
        SELECT manifest_digest, sum(delta)::integer AS delta, bool_or(is_image) AS is_image
        FROM chm GROUP BY 1
    ),
    mr AS (
        INSERT INTO manifest_refs AS t (manifest_digest, repositories)
        SELECT manifest_digest, delta FROM mrin ORDER BY manifest_digest
        ON CONFLICT (manifest_digest) DO UPDATE SET repositories = t.repositories + excluded.repositories
        RETURNING t.manifest_digest, t.repositories
    ),
    -- Image manifests that went live (+1) or dead (-1) everywhere.
    mt AS (
        SELECT mr.manifest_digest,
            (mr.repositories > 0)::integer - (mr.repositories - i.delta > 0)::integer AS d
        FROM mr JOIN mrin i USING (manifest_digest)
        WHERE i.is_image
    ),
    content AS (
        SELECT DISTINCT ml.manifest_digest, ml.blob_digest AS digest, b.size
        FROM manifest_layers ml
        JOIN blobs b ON b.digest = ml.blob_digest
        WHERE ml.manifest_digest IN (SELECT manifest_digest FROM mrin)
        UNION
        SELECT m.digest, m.config_digest, coalesce(m.config_size, 0)
        FROM manifests m
        WHERE m.digest IN (SELECT manifest_digest FROM mrin) AND m.config_digest IS NOT NULL
    ),
    rbin AS (
        SELECT chm.repository_id, c.digest, max(c.size) AS size,
            sum(chm.delta)::integer AS refs,
            coalesce(sum(chm.delta) FILTER (WHERE chm.is_image), 0)::integer AS image_refs
        FROM chm JOIN content c USING (manifest_digest)
        GROUP BY 1, 2
    ),
    rb AS (
        INSERT INTO repository_blobs AS t (repository_id, digest, size, refs, image_refs)
        SELECT repository_id, digest, size, refs, image_refs FROM rbin ORDER BY repository_id, digest
        ON CONFLICT (repository_id, digest) DO UPDATE
        SET refs = t.refs + excluded.refs, image_refs = t.image_refs + excluded.image_refs
        RETURNING t.repository_id, t.digest, t.size, t.refs, t.image_refs
    ),
    rt AS (
        SELECT rb.repository_id, rb.digest, rb.size,
            (rb.refs > 0)::integer - (rb.refs - i.refs > 0)::integer AS d,
            (rb.image_refs > 0)::integer - (rb.image_refs - i.image_refs > 0)::integer AS di
        FROM rb JOIN rbin i USING (repository_id, digest)
    ),
    ru AS (
        INSERT INTO repository_usage AS t (repository_id, images, manifests, logical_bytes, physical_bytes)
        SELECT x.repository_id, sum(x.images)::integer, sum(x.manifests)::integer, sum(x.logical)::bigint, sum(x.physical)::bigint
        FROM (
            SELECT repository_id, CASE WHEN is_image THEN delta ELSE 0 END AS images, delta AS manifests,
                delta * bytes AS logical, 0::bigint AS physical
            FROM chm
            UNION ALL
            SELECT repository_id, 0, 0, 0, d * size FROM rt WHERE d <> 0
        ) x
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (repository_id) DO UPDATE
        SET images = t.images + excluded.images, manifests = t.manifests + excluded.manifests,
            logical_bytes = t.logical_bytes + excluded.logical_bytes,
            physical_bytes = t.physical_bytes + excluded.physical_bytes
    ),
    -- The manifests live in two or more of a namespace's repositories
    -- (00024): each changed manifest's repositories in its namespace
    -- counted after the change, and before it (less the change).
    nsm AS (
        SELECT n.registry, n.namespace,
            sum((a.after >= 2)::integer - (a.after - n.delta >= 2)::integer)::integer AS shared
        FROM (SELECT registry, namespace, manifest_digest, sum(delta)::integer AS delta FROM chm GROUP BY 1, 2, 3 HAVING sum(delta) <> 0) n
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS after FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
            WHERE rm.manifest_digest = n.manifest_digest AND rm.deleted_at IS NULL
              AND r.registry = n.registry AND layerq_namespace(r.name) = n.namespace
        ) a
        GROUP BY 1, 2
    ),
    nu AS (
        INSERT INTO namespace_usage AS t (registry, namespace, images, manifests, logical_bytes, physical_bytes, shared_manifests)
        SELECT c.registry, c.namespace, c.images, c.manifests, c.logical, 0, coalesce(s.shared, 0)
        FROM (
            SELECT registry, namespace, sum(CASE WHEN is_image THEN delta ELSE 0 END)::integer AS images, sum(delta)::integer AS manifests,
                sum(delta * bytes)::bigint AS logical
            FROM chm GROUP BY 1, 2
        ) c
        LEFT JOIN nsm s USING (registry, namespace)
        ORDER BY 1, 2
        ON CONFLICT (registry, namespace) DO UPDATE
        SET images = t.images + excluded.images, manifests = t.manifests + excluded.manifests,
            logical_bytes = t.logical_bytes + excluded.logical_bytes, shared_manifests = t.shared_manifests + excluded.shared_manifests
    ),
    -- Each namespace's live image references to the blob, summed over its
    -- repositories (00024); its refs follow below, as holders cross zero.
    nbi AS (
        INSERT INTO namespace_blobs AS t (registry, namespace, digest, refs, image_refs)
        SELECT chm.registry, chm.namespace, c.digest, 0, sum(chm.delta)::integer
        FROM chm JOIN content c USING (manifest_digest)
        WHERE chm.is_image
        GROUP BY 1, 2, 3 HAVING sum(chm.delta) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (registry, namespace, digest) DO UPDATE SET image_refs = t.image_refs + excluded.image_refs
    ),
    bu AS (
        INSERT INTO blob_usage AS t (digest, size, manifests, repositories)
        SELECT x.digest, max(x.size), sum(x.dm)::integer, sum(x.dr)::integer
        FROM (
            SELECT c.digest, c.size, mt.d AS dm, 0 AS dr
            FROM mt JOIN content c USING (manifest_digest) WHERE mt.d <> 0
            UNION ALL
            SELECT digest, size, 0, di FROM rt WHERE di <> 0
        ) x
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (digest) DO UPDATE
        SET manifests = t.manifests + excluded.manifests, repositories = t.repositories + excluded.repositories
    )
    SELECT array_agg(DISTINCT digest) INTO touched FROM rt WHERE d <> 0;

    IF touched IS NULL THEN
        RETURN;
    END IF;

    -- The blobs some repository started or stopped holding: count their
    -- holders per namespace and per registry afresh, and compare with what
    -- namespace_blobs and registry_blobs said, for physical and unique bytes.
    WITH holders AS (
        SELECT r.registry, layerq_namespace(r.name) AS namespace, rb.digest, rb.repository_id, rb.size
        FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
        WHERE rb.digest = ANY (touched) AND rb.refs > 0
    ),
    ns_new AS (
        SELECT registry, namespace, digest, max(size) AS size, count(*)::integer AS refs FROM holders GROUP BY 1, 2, 3
    ),
    ns_old AS (
        SELECT nb.registry, nb.namespace, nb.digest, nb.refs, rg.size
        FROM namespace_blobs nb JOIN registry_blobs rg USING (registry, digest)
        WHERE nb.digest = ANY (touched) AND nb.refs > 0
    ),
    ns AS (
        SELECT registry, namespace, digest, coalesce(n.size, o.size) AS size,
            coalesce(n.refs, 0) AS new_refs, coalesce(o.refs, 0) AS old_refs
        FROM ns_new n FULL JOIN ns_old o USING (registry, namespace, digest)
    ),
    nb AS (
        INSERT INTO namespace_blobs AS t (registry, namespace, digest, refs)
        SELECT registry, namespace, digest, new_refs FROM ns WHERE new_refs <> old_refs
        ORDER BY registry, namespace, digest
        ON CONFLICT (registry, namespace, digest) DO UPDATE SET refs = excluded.refs
    ),
    reg_new AS (
        SELECT registry, digest, max(size) AS size, count(*)::integer AS repositories,
            count(DISTINCT namespace)::integer AS namespaces,
            min(repository_id) AS any_repository, min(namespace) AS any_namespace
        FROM holders GROUP BY 1, 2
    ),
    reg_old AS (
        SELECT * FROM registry_blobs WHERE digest = ANY (touched)
    ),
    reg AS (
        SELECT registry, digest, coalesce(n.size, o.size) AS size,
            coalesce(n.repositories, 0) AS repositories, coalesce(n.namespaces, 0) AS namespaces,
            CASE WHEN n.repositories = 1 THEN n.any_repository END AS sole_repository,
            CASE WHEN n.namespaces = 1 THEN n.any_namespace END AS sole_namespace,
            coalesce(o.repositories, 0) AS old_repositories,
            o.sole_repository AS old_sole_repository, o.sole_namespace AS old_sole_namespace
        FROM reg_new n FULL JOIN reg_old o USING (registry, digest)
    ),
    rg AS (
        INSERT INTO registry_blobs AS t (registry, digest, size, repositories, namespaces, sole_repository, sole_namespace)
        SELECT registry, digest, size, repositories, namespaces, sole_repository, sole_namespace FROM reg
        ORDER BY registry, digest
        ON CONFLICT (registry, digest) DO UPDATE
        SET repositories = excluded.repositories, namespaces = excluded.namespaces,
            sole_repository = excluded.sole_repository, sole_namespace = excluded.sole_namespace
    ),
    phys AS (
        INSERT INTO registry_usage AS t (registry, physical_bytes)
        SELECT registry, sum(((repositories > 0)::integer - (old_repositories > 0)::integer) * size)::bigint
        FROM reg GROUP BY 1 ORDER BY 1
        ON CONFLICT (registry) DO UPDATE SET physical_bytes = t.physical_bytes + excluded.physical_bytes
    ),
    ruq AS (
        INSERT INTO repository_usage AS t (repository_id, images, manifests, logical_bytes, physical_bytes, unique_bytes)
        SELECT repository_id, 0, 0, 0, 0, sum(bytes)::bigint FROM (
            SELECT old_sole_repository AS repository_id, -size AS bytes FROM reg
            WHERE old_sole_repository IS NOT NULL AND old_sole_repository IS DISTINCT FROM sole_repository
            UNION ALL
            SELECT sole_repository, size FROM reg
            WHERE sole_repository IS NOT NULL AND old_sole_repository IS DISTINCT FROM sole_repository
        ) x GROUP BY 1 ORDER BY 1
        ON CONFLICT (repository_id) DO UPDATE SET unique_bytes = t.unique_bytes + excluded.unique_bytes
    ),
    -- A namespace's physical bytes follow its holders crossing zero, its
    -- unique bytes its being the sole holder: one upsert, as a statement
    -- may change a row only once.
    nu AS (
    INSERT INTO namespace_usage AS t (registry, namespace, images, manifests, logical_bytes, physical_bytes, unique_bytes)
    SELECT registry, namespace, 0, 0, 0, sum(physical)::bigint, sum(uniq)::bigint FROM (
        SELECT registry, namespace, ((new_refs > 0)::integer - (old_refs > 0)::integer) * size AS physical, 0 AS uniq
        FROM ns WHERE (new_refs > 0) <> (old_refs > 0)
        UNION ALL
        SELECT registry, old_sole_namespace, 0, -size FROM reg
        WHERE old_sole_namespace IS NOT NULL AND old_sole_namespace IS DISTINCT FROM sole_namespace
        UNION ALL
        SELECT registry, sole_namespace, 0, size FROM reg
        WHERE sole_namespace IS NOT NULL AND old_sole_namespace IS DISTINCT FROM sole_namespace
    ) x GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (registry, namespace) DO UPDATE
    SET physical_bytes = t.physical_bytes + excluded.physical_bytes, unique_bytes = t.unique_bytes + excluded.unique_bytes
    )
    -- The layer blobs a namespace started or stopped holding, of contents
    -- stored under more than one blob (most are under one), and of them
    -- those their registry started or stopped holding.
    , crossed AS MATERIALIZED (
        SELECT ns.registry, ns.namespace, b.diff_id AS content, b.digest
        FROM ns JOIN blobs b ON b.digest = ns.digest AND b.diff_id IS NOT NULL
        WHERE (ns.new_refs > 0) <> (ns.old_refs > 0)
          AND EXISTS (SELECT 1 FROM blobs o WHERE o.diff_id = b.diff_id AND o.digest <> b.digest)
    )
    SELECT n.registries, n.namespaces, n.contents, g.registries, g.contents
    FROM (SELECT array_agg(c.registry) AS registries, array_agg(c.namespace) AS namespaces, array_agg(c.content) AS contents
          FROM crossed c) n,
         (SELECT array_agg(c.registry) AS registries, array_agg(c.content) AS contents
          FROM reg JOIN (SELECT DISTINCT registry, digest, content FROM crossed) c USING (registry, digest)
          WHERE (reg.repositories > 0) <> (reg.old_repositories > 0)) g
    INTO ns_registry, ns_namespace, ns_content, crossed_registry, crossed_content;

    IF ns_registry IS NULL THEN
        RETURN;
    END IF;
    PERFORM layerq_recount_namespace_duplicates(ns_registry, ns_namespace, ns_content);
    IF crossed_registry IS NOT NULL THEN
        PERFORM layerq_recount_registry_contents(crossed_registry, crossed_content);
    END IF;
END;
$$;

-- Count afresh the layer contents p_content[i] that namespace
-- p_namespace[i] of registry p_registry[i] holds, over its live encodings
-- of each (namespace_blobs, as it now is): kept while it holds a content
-- under more than one blob (namespace_duplicate_blobs), for duplicates
-- --kind blob of one namespace's repositories.
CREATE OR REPLACE FUNCTION layerq_recount_namespace_duplicates(p_registry text[], p_namespace text[], p_content text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    WITH pairs AS (
        SELECT DISTINCT registry, namespace, content FROM unnest(p_registry, p_namespace, p_content) AS x(registry, namespace, content)
    ),
    counted AS (
        SELECT p.registry, p.namespace, p.content, count(nb.digest)::integer AS encodings,
            coalesce(sum(b.size) FILTER (WHERE nb.digest IS NOT NULL), 0)::bigint AS stored,
            coalesce(sum(b.size) FILTER (WHERE nb.digest IS NOT NULL) - min(b.size) FILTER (WHERE nb.digest IS NOT NULL), 0)::bigint AS extra
        FROM pairs p
        JOIN blobs b ON b.diff_id = p.content
        LEFT JOIN namespace_blobs nb ON nb.registry = p.registry AND nb.namespace = p.namespace AND nb.digest = b.digest AND nb.refs > 0
        GROUP BY 1, 2, 3
    ),
    gone AS (
        DELETE FROM namespace_duplicate_blobs t USING counted c
        WHERE t.registry = c.registry AND t.namespace = c.namespace AND t.content = c.content AND c.encodings < 2
    )
    INSERT INTO namespace_duplicate_blobs AS t (registry, namespace, content, encodings, stored_bytes, extra_bytes)
    SELECT registry, namespace, content, encodings, stored, extra FROM counted WHERE encodings > 1
    ORDER BY registry, namespace, content
    ON CONFLICT (registry, namespace, content) DO UPDATE
    SET encodings = excluded.encodings, stored_bytes = excluded.stored_bytes, extra_bytes = excluded.extra_bytes;
END;
$$;

-- The same per registry (registry_contents), over the registry's live
-- encodings of each (registry_blobs, as it now is), for the dashboards'
-- duplicate encodings.
CREATE OR REPLACE FUNCTION layerq_recount_registry_contents(p_registry text[], p_content text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    WITH pairs AS (
        SELECT DISTINCT registry, content FROM unnest(p_registry, p_content) AS x(registry, content)
    ),
    counted AS (
        SELECT p.registry, p.content, count(rb.digest)::integer AS encodings,
            coalesce(sum(b.size) FILTER (WHERE rb.digest IS NOT NULL), 0)::bigint AS stored,
            coalesce(sum(b.size) FILTER (WHERE rb.digest IS NOT NULL) - min(b.size) FILTER (WHERE rb.digest IS NOT NULL), 0)::bigint AS extra
        FROM pairs p
        JOIN blobs b ON b.diff_id = p.content
        LEFT JOIN registry_blobs rb ON rb.registry = p.registry AND rb.digest = b.digest AND rb.repositories > 0
        GROUP BY 1, 2
    ),
    gone AS (
        DELETE FROM registry_contents t USING counted c
        WHERE t.registry = c.registry AND t.content = c.content AND c.encodings < 2
    )
    INSERT INTO registry_contents AS t (registry, content, encodings, stored_bytes, extra_bytes)
    SELECT registry, content, encodings, stored, extra FROM counted WHERE encodings > 1
    ORDER BY registry, content
    ON CONFLICT (registry, content) DO UPDATE
    SET encodings = excluded.encodings, stored_bytes = excluded.stored_bytes, extra_bytes = excluded.extra_bytes;
END;
$$;
