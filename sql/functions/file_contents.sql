-- What `layerq duplicates --kind file` reads over every repository
-- (migration 00011): the live layer blobs and whether they are indexed
-- (live_layer_blobs), per file content its copies in the live indexed
-- layers (file_contents), and the totals (file_totals).

-- Recompute, for the layer blobs of manifests p_manifests (whose
-- memberships changed) and blobs p_blobs (whose index changed), whether
-- each is a live layer (an image that holds it is live somewhere, and a
-- config names its diff_id) and indexed, and move their files in or out of
-- file_contents and the totals. Part of the fold (layerq_apply_queue), after
-- the membership fold: blob_usage is current. A layer's files are counted
-- once however many images hold it, as the registry stores it once.
CREATE OR REPLACE FUNCTION layerq_apply_file_contents(p_manifests text[], p_blobs text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    added text[]; removed text[];
    d_layers bigint; d_unindexed bigint;
BEGIN
    WITH c AS (
        SELECT t.digest, k.blob_digest IS NOT NULL AS was_live, coalesce(k.indexed, false) AS was_indexed,
            EXISTS (SELECT 1 FROM blob_usage u WHERE u.digest = t.digest AND u.manifests > 0)
                AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = t.digest AND b.diff_id IS NOT NULL) AS live,
            EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = t.digest) AS indexed
        FROM (
            SELECT ml.blob_digest AS digest FROM manifest_layers ml WHERE ml.manifest_digest = ANY (coalesce(p_manifests, '{}'))
            UNION
            SELECT unnest(coalesce(p_blobs, '{}'))
        ) t
        LEFT JOIN live_layer_blobs k ON k.blob_digest = t.digest
    ),
    gone AS (
        DELETE FROM live_layer_blobs k USING c WHERE k.blob_digest = c.digest AND c.was_live AND NOT c.live
    ),
    kept AS (
        INSERT INTO live_layer_blobs AS k (blob_digest, indexed)
        SELECT digest, indexed FROM c WHERE live ORDER BY 1
        ON CONFLICT (blob_digest) DO UPDATE SET indexed = excluded.indexed WHERE k.indexed <> excluded.indexed
    )
    SELECT array_agg(digest) FILTER (WHERE live AND indexed AND NOT (was_live AND was_indexed)),
        array_agg(digest) FILTER (WHERE was_live AND was_indexed AND NOT (live AND indexed)),
        coalesce(sum((live AND indexed)::integer - (was_live AND was_indexed)::integer), 0),
        coalesce(sum((live AND NOT indexed)::integer - (was_live AND NOT was_indexed)::integer), 0)
    INTO added, removed, d_layers, d_unindexed
    FROM c;

    IF added IS NULL AND removed IS NULL THEN
        IF d_unindexed <> 0 OR d_layers <> 0 THEN
            UPDATE file_totals SET layers = layers + d_layers, unindexed = unindexed + d_unindexed;
        END IF;
        RETURN;
    END IF;

    WITH d AS (
        SELECT lf.digest, max(lf.size) AS size,
            sum(CASE WHEN lf.blob_digest = ANY (coalesce(added, '{}')) THEN 1 ELSE -1 END) AS copies,
            (count(DISTINCT lf.blob_digest) FILTER (WHERE lf.blob_digest = ANY (coalesce(added, '{}')))
             - count(DISTINCT lf.blob_digest) FILTER (WHERE lf.blob_digest = ANY (coalesce(removed, '{}'))))::integer AS layers,
            min(lf.path COLLATE "C") AS path
        FROM layer_files lf
        WHERE lf.blob_digest = ANY (coalesce(added, '{}') || coalesce(removed, '{}')) AND lf.type = 1 AND lf.digest IS NOT NULL
        GROUP BY lf.digest
    ),
    -- Each content's copies before this fold, read by its key (the
    -- statement sees file_contents as it was before the insert below). Not
    -- a join of the insert's RETURNING with d: on a table the planner has
    -- no statistics for yet, both sides look like one row, and a nested
    -- loop over two CTE scans is quadratic in the files the fold adds.
    o AS (
        SELECT d.digest, d.size AS dsize, coalesce(fc.size, d.size) AS size, d.copies, coalesce(fc.copies, 0) AS old
        FROM d LEFT JOIN file_contents fc ON fc.digest = d.digest
    ),
    up AS (
        INSERT INTO file_contents AS t (digest, size, copies, layers, sample_path)
        SELECT digest, size, copies, layers, path FROM d ORDER BY digest
        ON CONFLICT (digest) DO UPDATE
        SET copies = t.copies + excluded.copies, layers = t.layers + excluded.layers, sample_path = least(t.sample_path COLLATE "C", excluded.sample_path)
    ),
    delta AS (
        SELECT sum(copies) AS files, sum(dsize * copies) AS bytes,
            sum((old + copies > 0)::integer - (old > 0)::integer) AS uniq,
            sum(size * ((old + copies > 0)::integer - (old > 0)::integer)) AS uniq_bytes
        FROM o
    )
    UPDATE file_totals t
    SET layers = t.layers + d_layers, unindexed = t.unindexed + d_unindexed,
        files = t.files + coalesce(delta.files, 0), total_bytes = t.total_bytes + coalesce(delta.bytes, 0),
        unique_files = t.unique_files + coalesce(delta.uniq, 0), unique_bytes = t.unique_bytes + coalesce(delta.uniq_bytes, 0)
    FROM delta;
    DELETE FROM file_contents WHERE copies = 0 AND digest IN (SELECT lf.digest FROM layer_files lf
        WHERE lf.blob_digest = ANY (coalesce(removed, '{}')) AND lf.type = 1);
END;
$$;
