-- The bloat report's totals per repository, kept.
--
-- `layerq bloat` over many images counted every live image's waste at each
-- run (a pass over every membership, its index state, waste and base). At
-- the report's defaults (--min-bytes 0, --small-layer 1MiB, no
-- --max-layers) the fold now keeps, per image manifest, what one
-- membership of it adds to the totals (image_bloat), and per repository
-- their sums over its live images (repository_bloat), so the totals of any
-- set of repositories read one row per repository
-- (layerq_apply_bloat, sql/functions/bloat_rollup.sql). image_waste rows
-- queue their manifest (a trigger), as its contribution changes with them.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections, image_waste IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE image_bloat (
    manifest_digest         text PRIMARY KEY,
    analyzed                integer NOT NULL, -- 1: its waste is known
    waiting                 integer NOT NULL, -- 1: a layer not indexed yet, or the analysis not done
    refused                 integer NOT NULL, -- 1: a layer the file index refused
    shown                   integer NOT NULL, -- 1: the report shows it (waste, or a run of small RUN layers)
    wasted_bytes            bigint NOT NULL,  -- its waste when shown, else 0
    wasted_compressed_bytes bigint NOT NULL
);

CREATE TABLE repository_bloat (
    repository_id           bigint PRIMARY KEY,
    images                  bigint NOT NULL, -- live image manifests with layers
    analyzed                bigint NOT NULL,
    waiting                 bigint NOT NULL,
    refused                 bigint NOT NULL,
    shown                   bigint NOT NULL,
    wasted_bytes            bigint NOT NULL,
    wasted_compressed_bytes bigint NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION layerq_image_bloat(p_manifests text[])
RETURNS TABLE (manifest_digest text, analyzed integer, waiting integer, refused integer, shown integer,
               wasted_bytes bigint, wasted_compressed_bytes bigint)
LANGUAGE sql STABLE AS $$
    SELECT x.manifest_digest, x.analyzed::integer, x.waiting::integer, x.refused::integer, x.shown::integer,
        CASE WHEN x.shown THEN x.wasted_bytes ELSE 0 END, CASE WHEN x.shown THEN x.wasted_compressed_bytes ELSE 0 END
    FROM (
        SELECT s.manifest_digest, w.wasted_bytes, w.wasted_compressed_bytes,
            w.manifest_digest IS NOT NULL AS analyzed,
            w.manifest_digest IS NULL AND (s.unindexed > 0 OR s.rejected = 0) AS waiting,
            s.rejected > 0 AS refused,
            w.manifest_digest IS NOT NULL
                AND (w.wasted_bytes > 0 OR layerq_has_layer_run(s.run_sizes, coalesce(ib.base_layers, 0), 1048576)) AS shown
        FROM image_index_state s
        JOIN manifests m ON m.digest = s.manifest_digest AND m.kind = 'image'
        LEFT JOIN image_waste w ON w.manifest_digest = s.manifest_digest AND s.unindexed = 0 AND s.rejected = 0
        LEFT JOIN image_bases ib ON ib.manifest_digest = s.manifest_digest
        WHERE s.manifest_digest = ANY (p_manifests)
    ) x
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_apply_bloat(p_repo bigint[], p_manifest text[], p_delta integer[], p_changed text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF p_repo IS NOT NULL THEN
        INSERT INTO repository_bloat AS t (repository_id, images, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes)
        SELECT u.r, sum(u.d), sum(u.d * c.analyzed), sum(u.d * c.waiting), sum(u.d * c.refused), sum(u.d * c.shown),
            sum(u.d * c.wasted_bytes), sum(u.d * c.wasted_compressed_bytes)
        FROM unnest(p_repo, p_manifest, p_delta) AS u(r, m, d)
        JOIN image_bloat c ON c.manifest_digest = u.m
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (repository_id) DO UPDATE
        SET images = t.images + excluded.images, analyzed = t.analyzed + excluded.analyzed, waiting = t.waiting + excluded.waiting,
            refused = t.refused + excluded.refused, shown = t.shown + excluded.shown,
            wasted_bytes = t.wasted_bytes + excluded.wasted_bytes, wasted_compressed_bytes = t.wasted_compressed_bytes + excluded.wasted_compressed_bytes;
    END IF;
    IF p_changed IS NULL THEN
        RETURN;
    END IF;

    WITH fresh AS (
        SELECT * FROM layerq_image_bloat(p_changed)
    ),
    delta AS (
        SELECT f.manifest_digest, 1 - (o.manifest_digest IS NOT NULL)::integer AS images,
            f.analyzed - coalesce(o.analyzed, 0) AS analyzed, f.waiting - coalesce(o.waiting, 0) AS waiting,
            f.refused - coalesce(o.refused, 0) AS refused, f.shown - coalesce(o.shown, 0) AS shown,
            f.wasted_bytes - coalesce(o.wasted_bytes, 0) AS wasted_bytes,
            f.wasted_compressed_bytes - coalesce(o.wasted_compressed_bytes, 0) AS wasted_compressed_bytes
        FROM fresh f LEFT JOIN image_bloat o USING (manifest_digest)
    ),
    moved AS (
        INSERT INTO repository_bloat AS t (repository_id, images, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes)
        SELECT rm.repository_id, sum(x.images), sum(x.analyzed), sum(x.waiting), sum(x.refused), sum(x.shown),
            sum(x.wasted_bytes), sum(x.wasted_compressed_bytes)
        FROM delta x
        JOIN repository_manifests rm ON rm.manifest_digest = x.manifest_digest AND rm.deleted_at IS NULL
        WHERE (x.images, x.analyzed, x.waiting, x.refused, x.shown, x.wasted_bytes, x.wasted_compressed_bytes) <> (0, 0, 0, 0, 0, 0, 0)
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (repository_id) DO UPDATE
        SET images = t.images + excluded.images, analyzed = t.analyzed + excluded.analyzed, waiting = t.waiting + excluded.waiting,
            refused = t.refused + excluded.refused, shown = t.shown + excluded.shown,
            wasted_bytes = t.wasted_bytes + excluded.wasted_bytes, wasted_compressed_bytes = t.wasted_compressed_bytes + excluded.wasted_compressed_bytes
    )
    INSERT INTO image_bloat AS t (manifest_digest, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes)
    SELECT manifest_digest, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes FROM fresh ORDER BY 1
    ON CONFLICT (manifest_digest) DO UPDATE
    SET analyzed = excluded.analyzed, waiting = excluded.waiting, refused = excluded.refused, shown = excluded.shown,
        wasted_bytes = excluded.wasted_bytes, wasted_compressed_bytes = excluded.wasted_compressed_bytes
    WHERE (t.analyzed, t.waiting, t.refused, t.shown, t.wasted_bytes, t.wasted_compressed_bytes)
        IS DISTINCT FROM (excluded.analyzed, excluded.waiting, excluded.refused, excluded.shown, excluded.wasted_bytes, excluded.wasted_compressed_bytes);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_waste_saved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (manifest_digest) SELECT manifest_digest FROM saved;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- The fold with the bloat totals and the analysis queue's upkeep, as
-- sql/functions/apply_queue.sql has it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    n integer;
    r bigint[]; m text[]; d integer[];
    nr bigint[]; nm text[];
    fresh text[]; affected text[]; events bigint[]; blobs text[]; live text[]; marked text[]; changed text[];
BEGIN
    WITH q AS (DELETE FROM aggregate_queue RETURNING *)
    SELECT count(*),
        array_agg(repository_id ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(manifest_digest ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(delta::integer ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(repository_id) FILTER (WHERE inserted),
        array_agg(manifest_digest) FILTER (WHERE inserted),
        array_agg(tag_event_id) FILTER (WHERE tag_event_id IS NOT NULL),
        array_agg(DISTINCT blob_digest) FILTER (WHERE blob_digest IS NOT NULL),
        array_agg(DISTINCT manifest_digest) FILTER (WHERE inserted OR delta > 0),
        array_agg(DISTINCT manifest_digest) FILTER (WHERE repository_id IS NULL AND manifest_digest IS NOT NULL)
    INTO n, r, m, d, nr, nm, events, blobs, live, marked
    FROM q;
    IF n = 0 THEN
        RETURN 0;
    END IF;

    IF r IS NOT NULL THEN
        PERFORM layerq_apply_membership(r, m, d);
        PERFORM layerq_apply_base_membership(r, m, d);
    END IF;

    IF nr IS NOT NULL THEN
        -- Image manifests seen in a repository for the first time.
        SELECT array_agg(DISTINCT x.digest) INTO fresh
        FROM unnest(nm) AS x(digest)
        JOIN manifests mf ON mf.digest = x.digest AND mf.kind = 'image';
    END IF;
    IF nr IS NOT NULL THEN
        INSERT INTO image_tops (top_chain_id, manifest_digest, layer_count)
        SELECT ml.chain_id, mf.digest, mf.layer_count
        FROM manifests mf
        JOIN manifest_layers ml ON ml.manifest_digest = mf.digest AND ml.position = mf.layer_count - 1
        WHERE mf.digest = ANY (fresh) AND ml.chain_id IS NOT NULL
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;

        -- The new images, and the images built on them (their whole chain
        -- of layers is a prefix of those, or they name them as base).
        SELECT array_agg(DISTINCT digest) INTO affected FROM (
            SELECT unnest(coalesce(fresh, '{}')) AS digest
            UNION
            SELECT dl.manifest_digest
            FROM manifests mf
            JOIN manifest_layers top ON top.manifest_digest = mf.digest AND top.position = mf.layer_count - 1
            JOIN manifest_layers dl ON dl.chain_id = top.chain_id AND dl.position = top.position
            WHERE mf.digest = ANY (fresh) AND top.chain_id IS NOT NULL AND dl.manifest_digest <> mf.digest
              AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = dl.manifest_digest)
            UNION
            SELECT mm.digest FROM manifests mm
            WHERE mm.kind = 'image'
              AND (mm.base_digest = ANY (nm)
                   OR mm.base_digest IN (SELECT c.index_digest FROM index_children c WHERE c.child_digest = ANY (fresh)))
              AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = mm.digest)
        ) a;
        PERFORM layerq_recompute_bases(affected);
        PERFORM layerq_extend_created_streams(nr, nm);
    END IF;

    IF events IS NOT NULL THEN
        PERFORM layerq_add_tag_transitions(events);
    END IF;
    IF live IS NOT NULL OR blobs IS NOT NULL THEN
        PERFORM layerq_apply_index_state(live, blobs);
    END IF;
    -- The analysis queue (only the fold writes waste_pending): off it, the
    -- images analyzed (an image_waste row queued them) and those no longer
    -- live anywhere; back on it, the images whose analysis was deleted
    -- (to be worked out again).
    IF marked IS NOT NULL OR m IS NOT NULL THEN
        DELETE FROM waste_pending p
        WHERE (p.manifest_digest = ANY (coalesce(marked, '{}'))
               AND EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = p.manifest_digest))
           OR (p.manifest_digest = ANY (coalesce(m, '{}'))
               AND NOT EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = p.manifest_digest AND rm.deleted_at IS NULL));
    END IF;
    IF marked IS NOT NULL THEN
        INSERT INTO waste_pending (manifest_digest)
        SELECT s.manifest_digest FROM image_index_state s
        WHERE s.manifest_digest = ANY (marked) AND s.unindexed = 0 AND s.rejected = 0
          AND NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = s.manifest_digest)
          AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = s.manifest_digest AND rm.deleted_at IS NULL)
        ORDER BY 1
        ON CONFLICT DO NOTHING;
    END IF;
    IF m IS NOT NULL OR blobs IS NOT NULL THEN
        PERFORM layerq_apply_file_contents(m, blobs);
    END IF;
    -- The bloat totals: the images whose contribution may have changed
    -- (new, index state, waste, base), after everything they read.
    SELECT array_agg(DISTINCT x) INTO changed FROM (
        SELECT unnest(coalesce(live, '{}')) AS x
        UNION ALL SELECT unnest(coalesce(marked, '{}'))
        UNION ALL SELECT unnest(coalesce(affected, '{}'))
        UNION ALL SELECT ml.manifest_digest FROM manifest_layers ml WHERE ml.blob_digest = ANY (coalesce(blobs, '{}'))
    ) c;
    IF r IS NOT NULL OR changed IS NOT NULL THEN
        PERFORM layerq_apply_bloat(r, m, d, changed);
    END IF;
    RETURN n;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_waste_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (manifest_digest) SELECT manifest_digest FROM image_index_state;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER image_waste_queue_ins AFTER INSERT ON image_waste
    REFERENCING NEW TABLE AS saved FOR EACH STATEMENT EXECUTE FUNCTION layerq_waste_saved();
CREATE TRIGGER image_waste_queue_del AFTER DELETE ON image_waste
    REFERENCING OLD TABLE AS saved FOR EACH STATEMENT EXECUTE FUNCTION layerq_waste_saved();
CREATE TRIGGER image_waste_queue_trunc AFTER TRUNCATE ON image_waste
    FOR EACH STATEMENT EXECUTE FUNCTION layerq_waste_truncated();

-- The fold alone writes the kept tables.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON image_bloat, repository_bloat FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- From now on only the fold writes waste_pending, and it holds live
-- images only (SaveWaste no longer takes rows off it; the fold does, when
-- image_waste's trigger queues the manifest).
DELETE FROM waste_pending p
WHERE EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = p.manifest_digest)
   OR NOT EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = p.manifest_digest AND rm.deleted_at IS NULL);

-- What the graph holds now.
INSERT INTO image_bloat SELECT * FROM layerq_image_bloat((SELECT array_agg(manifest_digest) FROM image_index_state));
INSERT INTO repository_bloat (repository_id, images, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes)
SELECT rm.repository_id, count(*), sum(c.analyzed), sum(c.waiting), sum(c.refused), sum(c.shown), sum(c.wasted_bytes), sum(c.wasted_compressed_bytes)
FROM repository_manifests rm
JOIN image_bloat c ON c.manifest_digest = rm.manifest_digest
WHERE rm.deleted_at IS NULL
GROUP BY 1;

-- +goose Down
DROP TRIGGER image_waste_queue_ins ON image_waste;
DROP TRIGGER image_waste_queue_del ON image_waste;
DROP TRIGGER image_waste_queue_trunc ON image_waste;
DROP FUNCTION layerq_waste_truncated();
DROP FUNCTION layerq_waste_saved();
DROP FUNCTION layerq_apply_bloat(bigint[], text[], integer[], text[]);
DROP FUNCTION layerq_image_bloat(text[]);
DROP TABLE repository_bloat;
DROP TABLE image_bloat;
DELETE FROM aggregate_queue WHERE repository_id IS NULL AND manifest_digest IS NOT NULL;
