-- A blob whose diff_id becomes known after it was written (first seen as
-- an artifact's layer, then named by an image's config) changes content:
-- from its own digest to its diff_id. What the fold counts per content
-- counted it under its digest until then; the trigger on blobs queues it
-- (aggregate_queue.relabeled, migration 00039) and the fold counts its two
-- contents afresh where it is held.

-- Queue a blob whose diff_id was just learned for the fold.
CREATE OR REPLACE FUNCTION layerq_blob_diff_id_learned() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (blob_digest, relabeled) VALUES (NEW.digest, true);
    RETURN NULL;
END;
$$;

-- Count afresh, for blobs p_blobs whose diff_id is now known, what is
-- kept of their contents: per repository (repository_contents) the
-- blob's two contents (its digest, what it was counted under, and its
-- diff_id) in each repository holding it or whose memberships of
-- manifests holding it this fold took in (p_repo, p_manifest: its last
-- holder there may have gone); per namespace and the repositories holding
-- each by the differences; the live images holding each anywhere, their
-- bytes and encodings; and the duplicated encodings of its diff_id in the
-- registries and namespaces holding it. Part of the fold, after the
-- memberships: the aggregates are then those of the fold's snapshot, as
-- these counts are.
CREATE OR REPLACE FUNCTION layerq_relabel_contents(p_blobs text[], p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    contents text[];
    reg text[]; reg_content text[];
    ns_reg text[]; ns_ns text[]; ns_content text[];
BEGIN
    -- Each repository's live images holding each content, against what
    -- it holds; the namespace sums and the repositories holding a content
    -- move by the differences. A blob whose diff_id is its digest (an
    -- uncompressed layer) keeps its content.
    WITH rel AS MATERIALIZED (
        SELECT b.digest, b.diff_id FROM blobs b
        WHERE b.digest = ANY (p_blobs) AND b.diff_id IS NOT NULL AND b.diff_id <> b.digest
    ),
    pairs AS MATERIALIZED (
        SELECT DISTINCT h.repository_id, c.content
        FROM (
            SELECT rb.repository_id, rel.digest, rel.diff_id FROM rel JOIN repository_blobs rb ON rb.digest = rel.digest AND rb.refs > 0
            UNION
            SELECT u.r, rel.digest, rel.diff_id
            FROM unnest(coalesce(p_repo, '{}'), coalesce(p_manifest, '{}')) AS u(r, m)
            JOIN manifest_layers ml ON ml.manifest_digest = u.m
            JOIN rel ON rel.digest = ml.blob_digest
        ) h
        CROSS JOIN LATERAL (VALUES (h.digest), (h.diff_id)) AS c(content)
    ),
    counted AS MATERIALIZED (
        SELECT p.repository_id, r.registry, layerq_namespace(r.name) AS namespace, p.content,
            coalesce((SELECT rc.images FROM repository_contents rc WHERE rc.repository_id = p.repository_id AND rc.content = p.content), 0) AS old_images,
            (SELECT count(DISTINCT rm.manifest_digest)
             FROM repository_manifests rm
             JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
             JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
             JOIN blobs b ON b.digest = ml.blob_digest
             WHERE rm.repository_id = p.repository_id AND rm.deleted_at IS NULL
               AND layerq_content(b.diff_id, b.digest) = p.content)::integer AS images
        FROM pairs p
        JOIN repositories r ON r.id = p.repository_id
    ),
    rc AS (
        INSERT INTO repository_contents AS t (repository_id, content, images)
        SELECT repository_id, content, images FROM counted WHERE images <> old_images
        ORDER BY 1, 2
        ON CONFLICT (repository_id, content) DO UPDATE SET images = excluded.images
    ),
    nc AS (
        INSERT INTO namespace_contents AS t (registry, namespace, content, images, repositories)
        SELECT registry, namespace, content, sum(images - old_images)::integer,
            sum((images > 0)::integer - (old_images > 0)::integer)::integer
        FROM counted WHERE images <> old_images
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (registry, namespace, content) DO UPDATE
        SET images = t.images + excluded.images, repositories = t.repositories + excluded.repositories
    ),
    cu AS (
        INSERT INTO content_usage AS t (content, images, repositories, stored_bytes, saved_bytes)
        SELECT content, 0, sum((images > 0)::integer - (old_images > 0)::integer)::integer, 0, 0
        FROM counted WHERE (images > 0) <> (old_images > 0)
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (content) DO UPDATE SET repositories = t.repositories + excluded.repositories
    )
    SELECT array_agg(DISTINCT c) INTO contents FROM (SELECT digest FROM rel UNION ALL SELECT diff_id FROM rel) x(c);

    IF contents IS NOT NULL THEN
        -- The live images holding each content anywhere, counted afresh
        -- (a row only where one is kept or some image holds it), then
        -- their bytes and encodings.
        WITH x AS (
            SELECT c.content,
                (SELECT count(DISTINCT ml.manifest_digest)
                 FROM blobs b
                 JOIN manifest_layers ml ON ml.blob_digest = b.digest
                 JOIN manifest_refs mr ON mr.manifest_digest = ml.manifest_digest AND mr.repositories > 0
                 JOIN manifests m ON m.digest = ml.manifest_digest AND m.kind = 'image'
                 WHERE b.diff_id = c.content OR (b.digest = c.content AND b.diff_id IS NULL))::integer AS images
            FROM unnest(contents) AS c(content)
        )
        INSERT INTO content_usage AS t (content, images, repositories, stored_bytes, saved_bytes)
        SELECT x.content, x.images, 0, 0, 0 FROM x
        WHERE x.images > 0 OR EXISTS (SELECT 1 FROM content_usage k WHERE k.content = x.content)
        ORDER BY 1
        ON CONFLICT (content) DO UPDATE SET images = excluded.images WHERE t.images <> excluded.images;
        PERFORM layerq_recount_content_bytes(contents);
    END IF;

    -- The duplicated encodings of the registries and namespaces holding a
    -- blob, of its diff_id (an uncompressed layer's too: a blob with no
    -- diff_id was no encoding).
    SELECT array_agg(rg.registry), array_agg(b.diff_id) INTO reg, reg_content
    FROM registry_blobs rg JOIN blobs b ON b.digest = rg.digest AND b.diff_id IS NOT NULL
    WHERE rg.digest = ANY (p_blobs) AND rg.repositories > 0;
    IF reg IS NOT NULL THEN
        PERFORM layerq_recount_registry_contents(reg, reg_content);
    END IF;
    SELECT array_agg(nb.registry), array_agg(nb.namespace), array_agg(b.diff_id) INTO ns_reg, ns_ns, ns_content
    FROM namespace_blobs nb JOIN blobs b ON b.digest = nb.digest AND b.diff_id IS NOT NULL
    WHERE nb.digest = ANY (p_blobs) AND nb.refs > 0;
    IF ns_reg IS NOT NULL THEN
        PERFORM layerq_recount_namespace_duplicates(ns_reg, ns_ns, ns_content);
    END IF;
END;
$$;
