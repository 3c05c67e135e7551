-- A blob's diff_id learned after the blob was written.
--
-- The ingest fills in a blob's diff_id when a config first names it (a
-- blob first written with none: an artifact's layer, or an image layer no
-- config names). What the fold keeps per layer content
-- (repository_contents, namespace_contents, content_usage,
-- registry_contents, namespace_duplicate_blobs, and live_layer_blobs with
-- the file figures on it) counted the blob under its digest until then,
-- and nothing told the fold it changed: the rows counted stayed under the
-- digest, and later changes counted under the diff_id. A trigger on blobs
-- now queues such a blob (aggregate_queue.relabeled), and the fold counts
-- what is kept of its contents afresh where it is held
-- (layerq_relabel_contents) and its layer state again.
--
-- The migration folds what is queued first, with the functions as they
-- are, then repairs what the gap may have left: the per-content counts of
-- the blobs held under their digest though their diff_id is known, in
-- every repository that ever held them, and the duplicated encodings per
-- registry and namespace counted afresh. The fold becomes a stub that
-- takes nothing in until the function files give it its body again (a
-- fold of the previous release would take the queued blobs in without
-- counting their contents).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections, blobs IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

ALTER TABLE aggregate_queue ADD COLUMN relabeled boolean NOT NULL DEFAULT false;

-- The fold's steps the trigger's blobs need (as their files define
-- them; the files replace them at every migrate).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_blob_diff_id_learned() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (blob_digest, relabeled) VALUES (NEW.digest, true);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_recount_content_bytes(p_contents text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    WITH s AS (
        SELECT x.content,
            coalesce(sum(u.size) FILTER (WHERE u.manifests > 0), 0)::bigint AS stored,
            coalesce(sum(u.size * (u.manifests - 1)) FILTER (WHERE u.manifests > 0), 0)::bigint AS saved,
            count(*) FILTER (WHERE u.manifests > 0)::integer AS encodings,
            coalesce(sum(u.size) FILTER (WHERE u.manifests > 0) - min(u.size) FILTER (WHERE u.manifests > 0), 0)::bigint AS extra
        FROM (
            SELECT x.content, b.digest FROM unnest(p_contents) AS x(content) JOIN blobs b ON b.diff_id = x.content
            UNION ALL
            SELECT x.content, b.digest FROM unnest(p_contents) AS x(content) JOIN blobs b ON b.digest = x.content AND b.diff_id IS NULL
        ) x
        LEFT JOIN blob_usage u ON u.digest = x.digest
        GROUP BY 1
    ),
    before AS (
        -- As the statement found them (the update below is not seen here).
        SELECT t.content, t.encodings, t.extra_bytes FROM content_usage t JOIN s USING (content)
    ),
    changed AS (
        UPDATE content_usage t
        SET stored_bytes = s.stored, saved_bytes = s.saved, encodings = s.encodings, extra_bytes = s.extra
        FROM s
        WHERE t.content = s.content
          AND (t.stored_bytes, t.saved_bytes, t.encodings, t.extra_bytes) IS DISTINCT FROM (s.stored, s.saved, s.encodings, s.extra)
        RETURNING t.content, t.encodings, t.extra_bytes
    ),
    d AS (
        SELECT coalesce(sum((c.encodings > 1)::integer - (b.encodings > 1)::integer), 0) AS dc,
            coalesce(sum(CASE WHEN c.encodings > 1 THEN c.extra_bytes ELSE 0 END - CASE WHEN b.encodings > 1 THEN b.extra_bytes ELSE 0 END), 0) AS de
        FROM changed c JOIN before b USING (content)
    )
    UPDATE content_totals t SET contents = t.contents + d.dc, extra_bytes = t.extra_bytes + d.de
    FROM d WHERE d.dc <> 0 OR d.de <> 0;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

CREATE TRIGGER blobs_diff_id_learned AFTER UPDATE OF diff_id ON blobs
    FOR EACH ROW WHEN (OLD.diff_id IS NULL AND NEW.diff_id IS NOT NULL)
    EXECUTE FUNCTION layerq_blob_diff_id_learned();

-- The blobs counted under their digest though a config names their
-- diff_id, with every membership, live or not, of the manifests listing
-- them: each repository that held them is counted again.
WITH stale AS MATERIALIZED (
    SELECT b.digest FROM content_usage cu JOIN blobs b ON b.digest = cu.content
    WHERE (cu.images <> 0 OR cu.repositories <> 0) AND b.diff_id IS NOT NULL AND b.diff_id <> b.digest
),
held AS (
    SELECT DISTINCT rm.repository_id, rm.manifest_digest
    FROM stale s
    JOIN manifest_layers ml ON ml.blob_digest = s.digest
    JOIN repository_manifests rm ON rm.manifest_digest = ml.manifest_digest
)
SELECT layerq_relabel_contents((SELECT array_agg(digest) FROM stale),
    (SELECT array_agg(repository_id ORDER BY repository_id, manifest_digest) FROM held),
    (SELECT array_agg(manifest_digest ORDER BY repository_id, manifest_digest) FROM held))
WHERE EXISTS (SELECT 1 FROM stale);

-- The duplicated encodings per registry and per namespace, counted
-- afresh (as the first fold counts them).
DELETE FROM registry_contents;
INSERT INTO registry_contents (registry, content, encodings, stored_bytes, extra_bytes)
SELECT rg.registry, b.diff_id, count(*)::integer, sum(b.size)::bigint, (sum(b.size) - min(b.size))::bigint
FROM registry_blobs rg JOIN blobs b ON b.digest = rg.digest
WHERE rg.repositories > 0 AND b.diff_id IS NOT NULL
GROUP BY 1, 2 HAVING count(*) > 1
ORDER BY 1, 2;
DELETE FROM namespace_duplicate_blobs;
INSERT INTO namespace_duplicate_blobs (registry, namespace, content, encodings, stored_bytes, extra_bytes)
SELECT nb.registry, nb.namespace, rc.content, count(*)::integer, sum(b.size)::bigint, (sum(b.size) - min(b.size))::bigint
FROM registry_contents rc
JOIN blobs b ON b.diff_id = rc.content
JOIN namespace_blobs nb ON nb.registry = rc.registry AND nb.digest = b.digest AND nb.refs > 0
GROUP BY 1, 2, 3 HAVING count(*) > 1
ORDER BY 1, 2, 3;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
DROP TRIGGER blobs_diff_id_learned ON blobs;
DROP FUNCTION layerq_blob_diff_id_learned();
DROP FUNCTION layerq_relabel_contents(text[], bigint[], text[]);
DROP FUNCTION layerq_recount_content_bytes(text[]);
DROP FUNCTION layerq_recount_registry_contents(text[], text[]);
DROP FUNCTION layerq_recount_namespace_duplicates(text[], text[], text[]);
DELETE FROM aggregate_queue WHERE relabeled;
ALTER TABLE aggregate_queue DROP COLUMN relabeled;
