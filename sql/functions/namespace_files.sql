-- What `layerq duplicates --kind file --repo NS/**` reads of one namespace
-- (migration 00041): per namespace and file content, its copies in the
-- live indexed layers the namespace holds (namespace_file_contents), and
-- the namespace's totals (namespace_file_totals), as file_contents and
-- file_totals keep them over every repository. A layer the namespace holds
-- is counted once however many of its images hold it, as the registry
-- stores it once.

-- The namespaces' layers whose files are counted, of blobs p_blobs: each
-- (registry, namespace, layer) where a live manifest of the namespace
-- holds the blob (namespace_blobs) and it is a live layer with a file
-- index (live_layer_blobs).
CREATE OR REPLACE FUNCTION layerq_namespace_file_layers(p_blobs text[])
RETURNS TABLE (registry text, namespace text, layer text)
LANGUAGE sql STABLE AS $$
    SELECT nb.registry, nb.namespace, nb.digest
    FROM namespace_blobs nb
    JOIN live_layer_blobs k ON k.blob_digest = nb.digest AND k.indexed
    WHERE nb.digest = ANY (p_blobs) AND nb.refs > 0
$$;

-- Move into the counts the files of the namespaces' layers counted now
-- for blobs p_blobs (layerq_namespace_file_layers) and not before the
-- fold changed anything, and out of them those counted before and not
-- now. The fold passes what was counted before as three arrays
-- (p_registries, p_namespaces, p_layers: the function's rows for the same
-- blobs then). Only the pairs that changed read their files: a push of
-- layers its namespace held already costs nothing here, a layer indexed
-- costs its files once per namespace holding it.
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
