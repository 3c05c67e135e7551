-- A blob's diff_id learned after the blob was written.
--
-- The ingest fills in a blob's diff_id when a config first names it (a
-- blob first seen as an artifact's layer has none). What the fold keeps
-- per layer content (repository_contents, namespace_contents,
-- content_usage, registry_contents, namespace_duplicate_blobs, and
-- live_layer_blobs with the file figures on it) counted the blob under its
-- digest until then, and nothing told the fold it changed: the rows
-- counted stayed under the digest, and later changes counted under the
-- diff_id. A trigger on blobs now queues such a blob
-- (aggregate_queue.relabeled), and the fold counts its two contents afresh
-- where it is held (layerq_relabel_contents) and its layer state again.
-- The migration queues the blobs the per-content counts already hold
-- under a digest though their diff_id is known.
--
-- The fold becomes a stub that takes nothing in until the function files
-- give it its body again (a fold of the previous release would take the
-- queued blobs in without counting their contents).

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);
LOCK TABLE blobs IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE aggregate_queue ADD COLUMN relabeled boolean NOT NULL DEFAULT false;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_blob_diff_id_learned() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (blob_digest, relabeled) VALUES (NEW.digest, true);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- The fold's steps the trigger's blobs need (as their files define
-- them; the files replace them at every migrate).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_recount_namespace_duplicates(p_registry text[], p_namespace text[], p_content text[]) RETURNS void
LANGUAGE sql AS $$
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
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_recount_registry_contents(p_registry text[], p_content text[]) RETURNS void
LANGUAGE sql AS $$
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
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_recount_content_bytes(p_contents text[]) RETURNS void
LANGUAGE sql AS $$
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
$$;
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

CREATE TRIGGER blobs_diff_id_learned AFTER UPDATE OF diff_id ON blobs
    FOR EACH ROW WHEN (OLD.diff_id IS NULL AND NEW.diff_id IS NOT NULL)
    EXECUTE FUNCTION layerq_blob_diff_id_learned();

INSERT INTO aggregate_queue (blob_digest, relabeled)
SELECT b.digest, true
FROM content_usage cu
JOIN blobs b ON b.digest = cu.content
WHERE (cu.images <> 0 OR cu.repositories <> 0) AND b.diff_id IS NOT NULL AND b.diff_id <> b.digest;

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
