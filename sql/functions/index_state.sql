-- What the bloat report needs of every image manifest (migration 00011):
-- image_index_state, and waste_pending, the images ready for the waste
-- analysis.

-- Whether a history step is a Dockerfile RUN, as dedup.IsRun says:
-- BuildKit writes "RUN …", the classic builder "/bin/sh -c …" (other
-- instructions there carry "#(nop)").
CREATE OR REPLACE FUNCTION layerq_is_run(created_by text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT starts_with(s, 'RUN ') OR ((starts_with(s, '/bin/sh -c ') OR starts_with(s, '|')) AND strpos(s, '#(nop)') = 0)
    FROM (SELECT btrim(created_by, E' \t\n\r\v\f') AS s) x
$$;

-- Whether an image has a run of two or more consecutive small RUN layers
-- above its base, as dedup finds them: run_sizes is image_index_state's
-- (by position, the compressed size of a RUN step's layer, else NULL),
-- base the number of base layers, small the size under which a layer is
-- small.
CREATE OR REPLACE FUNCTION layerq_has_layer_run(run_sizes bigint[], base integer, small bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM generate_series(greatest(base, 0) + 1, coalesce(array_length(run_sizes, 1), 0) - 1) i
                   WHERE run_sizes[i] < small AND run_sizes[i + 1] < small)
$$;

-- A statement trigger on layer_indexes and layer_rejections (inserts and
-- deletes): the images holding those layers change state, queued as the
-- layers' blobs.
CREATE OR REPLACE FUNCTION layerq_layer_files_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (blob_digest) SELECT DISTINCT blob_digest FROM changed;
    RETURN NULL;
END;
$$;

-- Recompute the state of image manifests p_manifests and of every image
-- manifest holding a layer blob of p_blobs; queue for the waste analysis
-- those now ready (every layer indexed, none refused), live and not
-- analyzed.
-- Part of the fold (layerq_apply_queue): one applier, one snapshot.
CREATE OR REPLACE FUNCTION layerq_apply_index_state(p_manifests text[], p_blobs text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    affected text[];
BEGIN
    SELECT array_agg(DISTINCT d) INTO affected FROM (
        SELECT unnest(coalesce(p_manifests, '{}')) AS d
        UNION ALL
        SELECT ml.manifest_digest FROM manifest_layers ml WHERE ml.blob_digest = ANY (coalesce(p_blobs, '{}'))
    ) x;
    IF affected IS NULL THEN
        RETURN;
    END IF;

    INSERT INTO image_index_state AS s (manifest_digest, unindexed, rejected, run_sizes)
    SELECT ml.manifest_digest,
        count(*) FILTER (WHERE li.blob_digest IS NULL AND lr.blob_digest IS NULL),
        count(lr.blob_digest),
        array_agg(CASE WHEN layerq_is_run(coalesce(ml.created_by, '')) THEN b.size END ORDER BY ml.position)
    FROM manifest_layers ml
    JOIN blobs b ON b.digest = ml.blob_digest
    LEFT JOIN layer_indexes li ON li.blob_digest = ml.blob_digest
    LEFT JOIN layer_rejections lr ON lr.blob_digest = ml.blob_digest
    WHERE ml.manifest_digest = ANY (affected)
    GROUP BY 1
    ORDER BY 1
    ON CONFLICT (manifest_digest) DO UPDATE
    SET unindexed = excluded.unindexed, rejected = excluded.rejected, run_sizes = excluded.run_sizes
    WHERE (s.unindexed, s.rejected, s.run_sizes) IS DISTINCT FROM (excluded.unindexed, excluded.rejected, excluded.run_sizes);

    INSERT INTO waste_pending (manifest_digest)
    SELECT s.manifest_digest FROM image_index_state s
    WHERE s.manifest_digest = ANY (affected) AND s.unindexed = 0 AND s.rejected = 0
      AND NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = s.manifest_digest)
      AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = s.manifest_digest AND rm.deleted_at IS NULL)
    ORDER BY 1
    ON CONFLICT DO NOTHING;
END;
$$;
