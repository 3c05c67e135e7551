-- `layerq duplicates --kind file --repo NS/**` from what the fold keeps
-- per namespace.
--
-- The report selected the namespace's live indexed layers (9,560 of them
-- for a namespace of the 100,000-image graph with file indexes) and
-- counted their half a million files from their listings in the process:
-- 1.1–1.4 s, against 150 ms. Over every repository the fold keeps the
-- same figures (file_contents, file_totals, 00011); they are now kept per
-- namespace as well: each file content's copies and layers in the
-- namespace's live indexed layers (namespace_file_contents), indexed by
-- the bytes its extra copies take, and the namespace's totals
-- (namespace_file_totals). The fold moves a layer's files in when the
-- namespace comes to hold it as a live indexed layer, and out when it
-- stops (layerq_apply_namespace_files): a push of layers the namespace
-- held already costs nothing, a layer indexed its files once per
-- namespace holding it.
--
-- The migration folds what is queued first, with the functions as they
-- are, and counts the namespaces' layers as the fold then left them. The
-- fold becomes a stub that takes nothing in until the function files give
-- it its body again.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections, layer_files, layer_listings IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE namespace_file_contents (
    registry    text NOT NULL,
    namespace   text NOT NULL,
    digest      bytea NOT NULL,   -- XXH3-128 of the content
    size        bigint NOT NULL,
    copies      bigint NOT NULL,  -- file entries with it in the namespace's live indexed layers
    layers      integer NOT NULL, -- those layers holding it
    sample_path text NOT NULL,    -- the least of its paths (byte order) the namespace came to hold
    PRIMARY KEY (registry, namespace, digest)
);

CREATE TABLE namespace_file_totals (
    registry     text NOT NULL,
    namespace    text NOT NULL,
    layers       bigint NOT NULL, -- live indexed layers the namespace holds
    files        bigint NOT NULL, -- their regular files with a known content
    total_bytes  bigint NOT NULL,
    unique_files bigint NOT NULL, -- distinct contents among them
    unique_bytes bigint NOT NULL,
    PRIMARY KEY (registry, namespace)
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_namespace_file_layers(p_blobs text[])
RETURNS TABLE (registry text, namespace text, layer text)
LANGUAGE sql STABLE AS $$
    SELECT nb.registry, nb.namespace, nb.digest
    FROM namespace_blobs nb
    JOIN live_layer_blobs k ON k.blob_digest = nb.digest AND k.indexed
    WHERE nb.digest = ANY (p_blobs) AND nb.refs > 0
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_namespace_files(p_blobs text[], p_registries text[], p_namespaces text[], p_layers text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    c_registries text[]; c_namespaces text[]; c_layers text[]; c_signs integer[];
BEGIN
    WITH was AS (
        SELECT * FROM unnest(coalesce(p_registries, '{}'), coalesce(p_namespaces, '{}'), coalesce(p_layers, '{}')) AS u(registry, namespace, layer)
    ),
    cur AS (
        SELECT * FROM layerq_namespace_file_layers(p_blobs)
    ),
    c AS (
        SELECT registry, namespace, layer, 1 AS sign FROM (SELECT * FROM cur EXCEPT SELECT * FROM was) a
        UNION ALL
        SELECT registry, namespace, layer, -1 FROM (SELECT * FROM was EXCEPT SELECT * FROM cur) b
    )
    SELECT array_agg(registry ORDER BY registry, namespace, layer), array_agg(namespace ORDER BY registry, namespace, layer),
        array_agg(layer ORDER BY registry, namespace, layer), array_agg(sign ORDER BY registry, namespace, layer)
    INTO c_registries, c_namespaces, c_layers, c_signs
    FROM c;
    IF c_layers IS NULL THEN
        RETURN;
    END IF;

    WITH c AS (
        SELECT * FROM unnest(c_registries, c_namespaces, c_layers, c_signs) AS u(registry, namespace, layer, sign)
    ),
    -- Each changed layer's contents, then each namespace's: a content a
    -- layer holds twice is two copies in one layer.
    per_layer AS (
        SELECT c.registry, c.namespace, c.sign, lf.digest, max(lf.size) AS size, count(*) AS files, min(lf.path COLLATE "C") AS path
        FROM c JOIN layer_files lf ON lf.blob_digest = c.layer AND lf.type = 1 AND lf.digest IS NOT NULL
        GROUP BY c.registry, c.namespace, c.layer, c.sign, lf.digest
    ),
    d AS (
        SELECT registry, namespace, digest, max(size) AS size, sum(sign * files) AS copies, sum(sign)::integer AS layers,
            min(path COLLATE "C") FILTER (WHERE sign > 0) AS path
        FROM per_layer
        GROUP BY registry, namespace, digest
    ),
    -- Each content's copies before this fold, read by its key (the
    -- statement sees the table as it was before the insert below).
    o AS (
        SELECT d.registry, d.namespace, d.size AS dsize, coalesce(t.size, d.size) AS size, d.copies, coalesce(t.copies, 0) AS old
        FROM d LEFT JOIN namespace_file_contents t ON t.registry = d.registry AND t.namespace = d.namespace AND t.digest = d.digest
    ),
    up AS (
        INSERT INTO namespace_file_contents AS t (registry, namespace, digest, size, copies, layers, sample_path)
        SELECT registry, namespace, digest, size, copies, layers, coalesce(path, '') FROM d ORDER BY registry, namespace, digest
        ON CONFLICT (registry, namespace, digest) DO UPDATE
        SET copies = t.copies + excluded.copies, layers = t.layers + excluded.layers,
            sample_path = least(t.sample_path COLLATE "C", nullif(excluded.sample_path, ''))
    ),
    fs AS (
        SELECT registry, namespace, sum(copies) AS files, sum(dsize * copies) AS bytes,
            sum((old + copies > 0)::integer - (old > 0)::integer) AS uniq,
            sum(size * ((old + copies > 0)::integer - (old > 0)::integer)) AS uniq_bytes
        FROM o
        GROUP BY registry, namespace
    ),
    layers AS (
        SELECT registry, namespace, sum(sign) AS layers FROM c GROUP BY registry, namespace
    )
    INSERT INTO namespace_file_totals AS t (registry, namespace, layers, files, total_bytes, unique_files, unique_bytes)
    SELECT l.registry, l.namespace, l.layers, coalesce(f.files, 0), coalesce(f.bytes, 0), coalesce(f.uniq, 0), coalesce(f.uniq_bytes, 0)
    FROM layers l LEFT JOIN fs f ON f.registry = l.registry AND f.namespace = l.namespace
    ORDER BY l.registry, l.namespace
    ON CONFLICT (registry, namespace) DO UPDATE
    SET layers = t.layers + excluded.layers, files = t.files + excluded.files, total_bytes = t.total_bytes + excluded.total_bytes,
        unique_files = t.unique_files + excluded.unique_files, unique_bytes = t.unique_bytes + excluded.unique_bytes;

    -- The contents no layer of the namespace holds any more.
    DELETE FROM namespace_file_contents t
    USING unnest(c_registries, c_namespaces, c_layers, c_signs) AS c(registry, namespace, layer, sign)
    JOIN layer_files lf ON lf.blob_digest = c.layer AND lf.type = 1 AND lf.digest IS NOT NULL
    WHERE c.sign < 0 AND t.registry = c.registry AND t.namespace = c.namespace AND t.digest = lf.digest AND t.copies = 0;
END;
$$;
-- +goose StatementEnd

-- Every namespace's layers as the fold left them, counted as the fold
-- counts a change.
SELECT layerq_apply_namespace_files(array_agg(blob_digest), '{}', '{}', '{}') FROM live_layer_blobs WHERE indexed;

-- duplicates --kind file of a namespace: the contents whose extra copies
-- take most.
CREATE INDEX namespace_file_contents_extra_idx ON namespace_file_contents (registry, namespace, (size * (copies - 1)) DESC, digest)
    WHERE copies > 1 AND size > 0;
ANALYZE namespace_file_contents;
ANALYZE namespace_file_totals;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON namespace_file_contents, namespace_file_totals FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);
-- The fold of the release before keeps no such tables; until its file
-- gives the fold its body again, the fold takes nothing in.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
DROP TABLE namespace_file_contents;
DROP TABLE namespace_file_totals;
DROP FUNCTION layerq_apply_namespace_files(text[], text[], text[], text[]);
DROP FUNCTION layerq_namespace_file_layers(text[]);
