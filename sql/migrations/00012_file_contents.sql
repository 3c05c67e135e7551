-- File contents across the live indexed layers, kept.
--
-- `layerq duplicates --kind file` over every repository counted and grouped
-- every file entry of every live indexed layer at each run. The fold now
-- keeps the live layer blobs and whether each is indexed
-- (live_layer_blobs), per file content its copies and the layers holding
-- them (file_contents) and the totals (file_totals), moving a layer's files
-- in when it becomes live and indexed and out when it stops being live
-- (layerq_apply_file_contents, sql/functions/file_contents.sql).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE live_layer_blobs (
    blob_digest text PRIMARY KEY,
    indexed     boolean NOT NULL
);

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

-- +goose StatementBegin
CREATE FUNCTION layerq_apply_file_contents(p_manifests text[], p_blobs text[]) RETURNS void
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
            min(lf.path) AS path
        FROM layer_files lf
        WHERE lf.blob_digest = ANY (coalesce(added, '{}') || coalesce(removed, '{}')) AND lf.type = 1 AND lf.digest IS NOT NULL
        GROUP BY lf.digest
    ),
    up AS (
        INSERT INTO file_contents AS t (digest, size, copies, layers, sample_path)
        SELECT digest, size, copies, layers, path FROM d ORDER BY digest
        ON CONFLICT (digest) DO UPDATE
        SET copies = t.copies + excluded.copies, layers = t.layers + excluded.layers, sample_path = least(t.sample_path, excluded.sample_path)
        RETURNING t.digest, t.size, t.copies
    ),
    delta AS (
        SELECT sum(d.copies) AS files, sum(d.size * d.copies) AS bytes,
            sum((up.copies > 0)::integer - (up.copies - d.copies > 0)::integer) AS uniq,
            sum(up.size * ((up.copies > 0)::integer - (up.copies - d.copies > 0)::integer)) AS uniq_bytes
        FROM up JOIN d USING (digest)
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
-- +goose StatementEnd

-- The fold with the file contents, as sql/functions/apply_queue.sql had it
-- then.
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
    IF m IS NOT NULL OR blobs IS NOT NULL THEN
        PERFORM layerq_apply_file_contents(m, blobs);
    END IF;
    RETURN n;
END;
$$;
-- +goose StatementEnd

-- What the graph holds now, as the fold would have made it.
SELECT layerq_apply_file_contents(NULL, array_agg(digest)) FROM blob_usage WHERE manifests > 0;

-- The fold alone writes the kept tables.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON live_layer_blobs, file_contents, file_totals FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION layerq_apply_file_contents(text[], text[]);
DROP TABLE file_totals;
DROP TABLE file_contents;
DROP TABLE live_layer_blobs;
