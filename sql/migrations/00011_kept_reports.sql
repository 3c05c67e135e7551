-- What the bloat and file-duplicate reports and two dashboard views need,
-- kept by the fold instead of recomputed from every image at each run.
--
-- Per image manifest (image_index_state): how many of its layers are not
-- indexed yet, how many the file index refused, and each layer's
-- compressed size when it is a RUN step (all a run of small RUN layers
-- depends on). waste_pending: the images ready for the waste analysis
-- (every layer indexed, none refused), live and not analyzed; serve, scan
-- --layers and the bloat report drain it. image_waste_pairs: each image's
-- pairs of layers that hid bytes, before the steps are named (the report
-- names them with the base it knows then), apart from image_waste so the
-- totals read narrow rows. image_bloat and repository_bloat: what one
-- membership of each image adds to the bloat report's totals at its
-- defaults, and their sums per repository. live_layer_blobs, file_contents
-- and file_totals: the live layer blobs and whether they are indexed, each
-- file content's copies across the live indexed layers, and the totals of
-- `duplicates --kind file`. Triggers queue what changes them: a layer
-- indexed or refused (or its verdict removed), an image's waste written or
-- deleted.
--
-- The functions that keep them are in sql/functions (index_state.sql,
-- file_contents.sql, bloat_rollup.sql, apply_queue.sql); every migrate
-- gives them their bodies right after the migrations. Here they are
-- created as stubs, the fold (layerq_apply_queue) too, which takes nothing
-- in until the files replace it: a fold run in between leaves the queue
-- for the real one. Every layer blob is queued, so the first fold builds
-- the kept state of the whole graph, with the definitions of the files.
-- image_waste's rows are dropped (they lack their pairs): serve, scan
-- --layers and the report work each image out again.
--
-- Two views read the kept tables: duplicate_blobs groups only the
-- contents with two live encodings (content_usage, 00010), ingest_backlog
-- counts only the live layers not indexed.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections, image_waste IN SHARE ROW EXCLUSIVE MODE;
-- Fold what is queued with the functions as they are (as the one applier).
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

ALTER TABLE aggregate_queue ADD COLUMN blob_digest text;

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

CREATE TABLE live_layer_blobs (
    blob_digest text PRIMARY KEY,
    indexed     boolean NOT NULL
);
CREATE INDEX live_layer_blobs_unindexed_idx ON live_layer_blobs (blob_digest) WHERE NOT indexed;

CREATE TABLE file_contents (
    digest      bytea PRIMARY KEY, -- XXH3-128 of the content
    size        bigint NOT NULL,
    copies      bigint NOT NULL,   -- file entries with it in live indexed layers
    layers      integer NOT NULL,  -- live indexed layers holding it
    sample_path text NOT NULL      -- one of its paths
);
-- duplicates --kind file: the contents whose extra copies take most.
CREATE INDEX file_contents_extra_idx ON file_contents ((size * (copies - 1)) DESC, digest) WHERE copies > 1 AND size > 0;

CREATE TABLE file_totals (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    layers       bigint NOT NULL, -- live layers indexed
    unindexed    bigint NOT NULL, -- live layers not indexed yet
    files        bigint NOT NULL,
    total_bytes  bigint NOT NULL,
    unique_files bigint NOT NULL,
    unique_bytes bigint NOT NULL
);
INSERT INTO file_totals (layers, unindexed, files, total_bytes, unique_files, unique_bytes) VALUES (0, 0, 0, 0, 0, 0);

-- Stubs; the files give them their bodies.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_is_run(created_by text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT false $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_has_layer_run(run_sizes bigint[], base integer, small bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT false $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_index_state(p_manifests text[], p_blobs text[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN END; $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_file_contents(p_manifests text[], p_blobs text[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN END; $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_image_bloat(p_manifests text[])
RETURNS TABLE (manifest_digest text, analyzed integer, waiting integer, refused integer, shown integer,
               wasted_bytes bigint, wasted_compressed_bytes bigint)
LANGUAGE sql STABLE AS $$ SELECT NULL::text, 0, 0, 0, 0, 0::bigint, 0::bigint WHERE false $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_bloat(p_repo bigint[], p_manifest text[], p_delta integer[], p_changed text[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN END; $$;
-- +goose StatementEnd

-- The triggers queue from now on, so their functions are whole here.
-- +goose StatementBegin
CREATE FUNCTION layerq_layer_files_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (blob_digest) SELECT DISTINCT blob_digest FROM changed;
    RETURN NULL;
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
-- +goose StatementBegin
CREATE FUNCTION layerq_waste_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (manifest_digest) SELECT manifest_digest FROM image_index_state;
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
CREATE TRIGGER image_waste_queue_ins AFTER INSERT ON image_waste
    REFERENCING NEW TABLE AS saved FOR EACH STATEMENT EXECUTE FUNCTION layerq_waste_saved();
CREATE TRIGGER image_waste_queue_del AFTER DELETE ON image_waste
    REFERENCING OLD TABLE AS saved FOR EACH STATEMENT EXECUTE FUNCTION layerq_waste_saved();
CREATE TRIGGER image_waste_queue_trunc AFTER TRUNCATE ON image_waste
    FOR EACH STATEMENT EXECUTE FUNCTION layerq_waste_truncated();

-- The first fold builds the whole graph's kept state.
INSERT INTO aggregate_queue (blob_digest) SELECT DISTINCT blob_digest FROM manifest_layers;

-- The fold alone writes the kept tables.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON image_index_state, waste_pending, image_bloat, repository_bloat,
            live_layer_blobs, file_contents, file_totals FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE OR REPLACE VIEW duplicate_blobs AS
SELECT rb.registry, b.diff_id, count(*)::bigint AS encodings,
    sum(b.size)::bigint AS stored_bytes, (sum(b.size) - min(b.size))::bigint AS bytes_stored_twice,
    array_agg(b.digest ORDER BY b.size, b.digest) AS digests,
    array_agg(b.media_type ORDER BY b.size, b.digest) AS media_types
FROM content_usage cu
JOIN blobs b ON b.diff_id = cu.content
JOIN registry_blobs rb ON rb.digest = b.digest
WHERE cu.encodings > 1 AND rb.repositories > 0
GROUP BY rb.registry, b.diff_id
HAVING count(*) > 1;

CREATE OR REPLACE VIEW ingest_backlog AS
SELECT (SELECT count(*) FROM aggregate_queue)::bigint AS aggregate_changes,
    -- Foreign and non-distributable layers live outside the registry and
    -- are never indexed (as layers_pending.sql leaves them out).
    (SELECT count(*) FROM live_layer_blobs k
     JOIN blobs b ON b.digest = k.blob_digest
     WHERE NOT k.indexed
       AND b.media_type NOT LIKE '%foreign%' AND b.media_type NOT LIKE '%nondistributable%'
       AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = k.blob_digest))::bigint AS layers_pending;

-- +goose Down
-- The fold as it was before.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    n integer;
    r bigint[]; m text[]; d integer[];
    nr bigint[]; nm text[];
    fresh text[]; affected text[]; events bigint[];
BEGIN
    WITH q AS (DELETE FROM aggregate_queue RETURNING *)
    SELECT count(*),
        array_agg(repository_id ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(manifest_digest ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(delta::integer ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(repository_id) FILTER (WHERE inserted),
        array_agg(manifest_digest) FILTER (WHERE inserted),
        array_agg(tag_event_id) FILTER (WHERE tag_event_id IS NOT NULL)
    INTO n, r, m, d, nr, nm, events
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
    RETURN n;
END;
$$;
-- +goose StatementEnd

CREATE OR REPLACE VIEW ingest_backlog AS
SELECT (SELECT count(*) FROM aggregate_queue)::bigint AS aggregate_changes,
    (SELECT count(*) FROM blob_usage u
     JOIN blobs b ON b.digest = u.digest
     WHERE u.manifests > 0 AND b.diff_id IS NOT NULL
       AND b.media_type NOT LIKE '%foreign%' AND b.media_type NOT LIKE '%nondistributable%'
       AND NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = u.digest)
       AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = u.digest))::bigint AS layers_pending;

CREATE OR REPLACE VIEW duplicate_blobs AS
SELECT rb.registry, b.diff_id, count(*)::bigint AS encodings,
    sum(b.size)::bigint AS stored_bytes, (sum(b.size) - min(b.size))::bigint AS bytes_stored_twice,
    array_agg(b.digest ORDER BY b.size, b.digest) AS digests,
    array_agg(b.media_type ORDER BY b.size, b.digest) AS media_types
FROM registry_blobs rb
JOIN blobs b ON b.digest = rb.digest
WHERE rb.repositories > 0 AND b.diff_id IS NOT NULL
GROUP BY rb.registry, b.diff_id
HAVING count(*) > 1;

DROP TRIGGER layer_indexes_queue_ins ON layer_indexes;
DROP TRIGGER layer_indexes_queue_del ON layer_indexes;
DROP TRIGGER layer_rejections_queue_ins ON layer_rejections;
DROP TRIGGER layer_rejections_queue_del ON layer_rejections;
DROP TRIGGER image_waste_queue_ins ON image_waste;
DROP TRIGGER image_waste_queue_del ON image_waste;
DROP TRIGGER image_waste_queue_trunc ON image_waste;
DROP FUNCTION layerq_layer_files_changed();
DROP FUNCTION layerq_waste_saved();
DROP FUNCTION layerq_waste_truncated();
DROP FUNCTION layerq_apply_bloat(bigint[], text[], integer[], text[]);
DROP FUNCTION layerq_image_bloat(text[]);
DROP FUNCTION layerq_apply_file_contents(text[], text[]);
DROP FUNCTION layerq_apply_index_state(text[], text[]);
DROP FUNCTION layerq_has_layer_run(bigint[], integer, bigint);
DROP FUNCTION layerq_is_run(text);
DROP TABLE file_totals, file_contents, live_layer_blobs, repository_bloat, image_bloat, image_waste_pairs, waste_pending, image_index_state;
DROP INDEX image_waste_wasted_idx;
DELETE FROM aggregate_queue WHERE blob_digest IS NOT NULL OR (repository_id IS NULL AND manifest_digest IS NOT NULL);
ALTER TABLE aggregate_queue DROP COLUMN blob_digest;
