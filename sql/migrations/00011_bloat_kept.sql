-- What the bloat report needs of every image, kept, so it reads a page of
-- images and exact totals instead of every layer of the registry.
--
-- image_index_state, per image manifest: how many of its layers are not
-- indexed yet, how many the file index refused, and for each layer its
-- compressed size when it is a RUN step (else NULL), which is all a run of
-- small RUN layers depends on. The fold keeps it (layerq_apply_index_state):
-- for images new to a repository, and for the images holding a layer whose
-- index or rejection was written or removed (the triggers below queue the
-- layer's blob).
--
-- image_waste_pairs holds each image's pairs of steps as the analysis
-- found them before they are named (dedup.Hidden), so the report names
-- them with the base it knows at that moment; apart from image_waste, so
-- the totals read its narrow rows. image_waste rows written before have
-- none and are dropped: `serve` and the report work them out again.
--
-- waste_pending holds the images the fold found ready (every layer
-- indexed, none refused) and not analyzed yet: what serve and the report
-- analyze, without scanning every manifest for them.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

ALTER TABLE aggregate_queue ADD COLUMN blob_digest text;

-- The functions as sql/functions/index_state.sql has them (the state
-- below is made with them).
-- +goose StatementBegin
CREATE FUNCTION layerq_is_run(created_by text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT starts_with(s, 'RUN ') OR ((starts_with(s, '/bin/sh -c ') OR starts_with(s, '|')) AND strpos(s, '#(nop)') = 0)
    FROM (SELECT btrim(created_by, E' \t\n\r\v\f') AS s) x
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_has_layer_run(run_sizes bigint[], base integer, small bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM generate_series(greatest(base, 0) + 1, coalesce(array_length(run_sizes, 1), 0) - 1) i
                   WHERE run_sizes[i] < small AND run_sizes[i + 1] < small)
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_index_state(p_manifests text[], p_blobs text[]) RETURNS void
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
-- +goose StatementEnd

-- The fold with the index state, so a fold between this migration and the
-- functions' files keeps it.
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
    RETURN n;
END;
$$;
-- +goose StatementEnd

CREATE TABLE image_index_state (
    manifest_digest text PRIMARY KEY,
    unindexed       integer NOT NULL, -- layers neither indexed nor refused
    rejected        integer NOT NULL, -- layers the file index refused
    run_sizes       bigint[] NOT NULL -- by position: compressed size of a RUN step's layer, else NULL
);
CREATE INDEX image_index_state_pending_idx ON image_index_state (manifest_digest) WHERE unindexed > 0 OR rejected > 0;

CREATE TABLE waste_pending (
    manifest_digest text PRIMARY KEY
);

TRUNCATE image_waste;
CREATE TABLE image_waste_pairs (
    manifest_digest text PRIMARY KEY,
    pairs           jsonb NOT NULL
);
CREATE INDEX image_waste_wasted_idx ON image_waste (wasted_bytes DESC, manifest_digest);

-- +goose StatementBegin
CREATE FUNCTION layerq_layer_files_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (blob_digest) SELECT DISTINCT blob_digest FROM changed;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER layer_indexes_queue_ins AFTER INSERT ON layer_indexes
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION layerq_layer_files_changed();
CREATE TRIGGER layer_indexes_queue_del AFTER DELETE ON layer_indexes
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION layerq_layer_files_changed();
CREATE TRIGGER layer_rejections_queue_ins AFTER INSERT ON layer_rejections
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION layerq_layer_files_changed();
CREATE TRIGGER layer_rejections_queue_del AFTER DELETE ON layer_rejections
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION layerq_layer_files_changed();

-- The state of every image manifest now.
SELECT layerq_apply_index_state(array_agg(DISTINCT manifest_digest), NULL) FROM manifest_layers;

-- The fold alone writes the kept tables.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON image_index_state, waste_pending FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER layer_indexes_queue_ins ON layer_indexes;
DROP TRIGGER layer_indexes_queue_del ON layer_indexes;
DROP TRIGGER layer_rejections_queue_ins ON layer_rejections;
DROP TRIGGER layer_rejections_queue_del ON layer_rejections;
DROP FUNCTION layerq_layer_files_changed();
DROP INDEX image_waste_wasted_idx;
DROP TABLE image_waste_pairs;
DROP TABLE waste_pending;
DROP TABLE image_index_state;
DROP FUNCTION layerq_apply_index_state(text[], text[]);
DROP FUNCTION layerq_has_layer_run(bigint[], integer, bigint);
DROP FUNCTION layerq_is_run(text);
DELETE FROM aggregate_queue WHERE blob_digest IS NOT NULL;
ALTER TABLE aggregate_queue DROP COLUMN blob_digest;
