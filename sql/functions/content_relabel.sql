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

-- Count afresh, for blobs p_blobs whose diff_id is now known, the
-- per-content aggregates of their two contents (the blob's digest, what
-- they were counted under, and its diff_id): per repository
-- (repository_contents) for the repositories holding a blob or whose
-- memberships of manifests holding one this fold took in (p_repo,
-- p_manifest), per namespace and over the registry by the differences,
-- the images holding each, their bytes and encodings, and the duplicated
-- encodings of the registries and namespaces holding a blob. Part of the
-- fold, after the memberships: the aggregates are then those of the
-- fold's snapshot, as these counts are.
CREATE OR REPLACE FUNCTION layerq_relabel_contents(p_blobs text[], p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    relabeled text[];
    contents text[];
    repos bigint[];
    reg text[]; reg_content text[];
    ns_reg text[]; ns_ns text[]; ns_content text[];
BEGIN
    SELECT array_agg(b.digest), array_agg(b.digest) || array_agg(b.diff_id) INTO relabeled, contents
    FROM blobs b
    WHERE b.digest = ANY (p_blobs) AND b.diff_id IS NOT NULL AND b.diff_id <> b.digest;
    IF relabeled IS NULL THEN
        RETURN;
    END IF;

    SELECT array_agg(DISTINCT x) INTO repos FROM (
        SELECT rb.repository_id AS x FROM repository_blobs rb WHERE rb.digest = ANY (relabeled) AND rb.refs > 0
        UNION ALL
        SELECT u.r FROM unnest(coalesce(p_repo, '{}'), coalesce(p_manifest, '{}')) AS u(r, m)
        WHERE EXISTS (SELECT 1 FROM manifest_layers ml WHERE ml.manifest_digest = u.m AND ml.blob_digest = ANY (relabeled))
    ) s;

    IF repos IS NOT NULL THEN
        -- Each repository's live images holding each content, against
        -- what it holds; the namespace sums and the repositories holding
        -- a content move by the differences.
        WITH counted AS MATERIALIZED (
            SELECT r.id AS repository_id, r.registry, layerq_namespace(r.name) AS namespace, c.content,
                coalesce((SELECT rc.images FROM repository_contents rc WHERE rc.repository_id = r.id AND rc.content = c.content), 0) AS old_images,
                (SELECT count(DISTINCT rm.manifest_digest)
                 FROM blobs b
                 JOIN manifest_layers ml ON ml.blob_digest = b.digest
                 JOIN repository_manifests rm ON rm.repository_id = r.id AND rm.manifest_digest = ml.manifest_digest AND rm.deleted_at IS NULL
                 JOIN manifests m ON m.digest = ml.manifest_digest AND m.kind = 'image'
                 WHERE b.diff_id = c.content OR (b.digest = c.content AND b.diff_id IS NULL))::integer AS images
            FROM repositories r
            CROSS JOIN (SELECT DISTINCT unnest(contents) AS content) c
            WHERE r.id = ANY (repos)
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
        )
        INSERT INTO content_usage AS t (content, images, repositories, stored_bytes, saved_bytes)
        SELECT content, 0, sum((images > 0)::integer - (old_images > 0)::integer)::integer, 0, 0
        FROM counted WHERE images <> old_images
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (content) DO UPDATE SET repositories = t.repositories + excluded.repositories;
    END IF;

    -- The live images holding each content anywhere, counted afresh, then
    -- their bytes and encodings.
    INSERT INTO content_usage AS t (content, images, repositories, stored_bytes, saved_bytes)
    SELECT c.content,
        (SELECT count(DISTINCT ml.manifest_digest)
         FROM blobs b
         JOIN manifest_layers ml ON ml.blob_digest = b.digest
         JOIN manifest_refs mr ON mr.manifest_digest = ml.manifest_digest AND mr.repositories > 0
         JOIN manifests m ON m.digest = ml.manifest_digest AND m.kind = 'image'
         WHERE b.diff_id = c.content OR (b.digest = c.content AND b.diff_id IS NULL))::integer,
        0, 0, 0
    FROM (SELECT DISTINCT unnest(contents) AS content) c
    ORDER BY 1
    ON CONFLICT (content) DO UPDATE SET images = excluded.images WHERE t.images <> excluded.images;
    PERFORM layerq_recount_content_bytes(contents);

    -- The duplicated encodings of the registries and namespaces holding a
    -- blob, of its diff_id.
    SELECT array_agg(rg.registry), array_agg(b.diff_id) INTO reg, reg_content
    FROM registry_blobs rg JOIN blobs b ON b.digest = rg.digest
    WHERE rg.digest = ANY (relabeled) AND rg.repositories > 0;
    IF reg IS NOT NULL THEN
        PERFORM layerq_recount_registry_contents(reg, reg_content);
    END IF;
    SELECT array_agg(nb.registry), array_agg(nb.namespace), array_agg(b.diff_id) INTO ns_reg, ns_ns, ns_content
    FROM namespace_blobs nb JOIN blobs b ON b.digest = nb.digest
    WHERE nb.digest = ANY (relabeled) AND nb.refs > 0;
    IF ns_reg IS NOT NULL THEN
        PERFORM layerq_recount_namespace_duplicates(ns_reg, ns_ns, ns_content);
    END IF;
END;
$$;
