-- The bloat report's totals per repository at its defaults (migration
-- 00011): image_bloat holds what one membership of each image manifest
-- adds, repository_bloat the sums over each repository's live images,
-- and repository_waste (00041) each repository's live images the report
-- shows, by wasted bytes.

-- What one live membership of each image manifest of p_manifests adds to
-- its repository's bloat totals, as bloat_totals.sql counts them at the
-- report's defaults (--min-bytes 0, --small-layer 1MiB, no --max-layers).
CREATE OR REPLACE FUNCTION layerq_image_bloat(p_manifests text[])
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

-- Membership changes (p_manifest[i] went live (+1) or dead (-1) in
-- repository p_repo[i]) move each image's contribution as image_bloat
-- held it before this fold; then the contributions of p_changed (images
-- whose index state, waste or base may have changed, and new ones) are
-- worked out again and the difference goes to every repository holding
-- them now; and the repository_waste rows of every image whose
-- memberships or image_bloat row changed are written again from its live
-- memberships and what image_bloat now holds.
-- Part of the fold (layerq_apply_queue), after the index state.
CREATE OR REPLACE FUNCTION layerq_apply_bloat(p_repo bigint[], p_manifest text[], p_delta integer[], p_changed text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    touched text[];
    moved_images text[];
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
    IF p_changed IS NOT NULL THEN
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
        ),
        saved AS (
            INSERT INTO image_bloat AS t (manifest_digest, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes)
            SELECT manifest_digest, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes FROM fresh ORDER BY 1
            ON CONFLICT (manifest_digest) DO UPDATE
            SET analyzed = excluded.analyzed, waiting = excluded.waiting, refused = excluded.refused, shown = excluded.shown,
                wasted_bytes = excluded.wasted_bytes, wasted_compressed_bytes = excluded.wasted_compressed_bytes
            WHERE (t.analyzed, t.waiting, t.refused, t.shown, t.wasted_bytes, t.wasted_compressed_bytes)
                IS DISTINCT FROM (excluded.analyzed, excluded.waiting, excluded.refused, excluded.shown, excluded.wasted_bytes, excluded.wasted_compressed_bytes)
            RETURNING t.manifest_digest
        )
        SELECT array_agg(manifest_digest) INTO moved_images FROM saved;
    END IF;

    -- The images whose rows by waste may change: those whose memberships
    -- changed, and those whose bloat did (not every image p_changed names:
    -- most are as they were).
    SELECT array_agg(DISTINCT x) INTO touched
    FROM unnest(coalesce(p_manifest, '{}') || coalesce(moved_images, '{}')) AS x;
    IF touched IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM repository_waste WHERE manifest_digest = ANY (touched);
    INSERT INTO repository_waste (repository_id, manifest_digest, wasted_bytes)
    SELECT rm.repository_id, rm.manifest_digest, b.wasted_bytes
    FROM repository_manifests rm
    JOIN image_bloat b ON b.manifest_digest = rm.manifest_digest AND b.shown > 0
    WHERE rm.manifest_digest = ANY (touched) AND rm.deleted_at IS NULL
    ORDER BY 1, 2;
END;
$$;

-- image_waste rows written or deleted queue their manifest for the fold
-- (aggregate_queue, manifest_digest alone): its bloat contribution
-- changes, and a deleted analysis is to be worked out again.
CREATE OR REPLACE FUNCTION layerq_waste_saved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (manifest_digest) SELECT manifest_digest FROM saved;
    RETURN NULL;
END;
$$;

-- TRUNCATE image_waste (to have every image analyzed again) queues every
-- image manifest.
CREATE OR REPLACE FUNCTION layerq_waste_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (manifest_digest) SELECT manifest_digest FROM image_index_state;
    RETURN NULL;
END;
$$;
