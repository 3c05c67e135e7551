-- What `layerq find` reads (migration 00040), by fixed-size keys: each path
-- of a regular file once (file_paths), the layers holding each path
-- (path_layers), and the layers of every live image (live_image_layers).
-- A popular name's layers are then an index-only range of path_layers,
-- and their live images a join of two 16-byte keys, where they were a
-- heap row of layer_files per layer and three probes of B-trees keyed by
-- digests per holder.

-- A digest's key: the first 128 bits of its hex (after "algorithm:") as
-- a uuid, so that keys order as the digests do; a digest that is not hex
-- there gets the md5 of the whole. Two digests share a key only if their
-- first 32 hex digits are equal: no one makes two such digests on
-- purpose (a birthday search of 2^64).
CREATE OR REPLACE FUNCTION layerq_digest_key(p_digest text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN split_part(p_digest, ':', 2) ~ '^[0-9a-f]{32}'
                THEN substr(split_part(p_digest, ':', 2), 1, 32)::uuid
                ELSE md5(p_digest)::uuid END
$$;

-- The statement trigger on layer_listings (every writer of a layer's
-- index writes its listing after its entries, in the same transaction):
-- the new layers' regular files, each path into file_paths once, then a
-- row of path_layers per (path, layer) with how many entries of the
-- layer write that path. New paths go in in path order, so two indexers
-- that meet on new paths wait for each other at most, never in a cycle.
-- Each lookup is a subquery of its own (OFFSET 0 keeps the planner from
-- merging it), by an index whatever the statistics of a table that grew
-- in a burst say.
CREATE OR REPLACE FUNCTION layerq_index_paths() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO file_paths (path)
    SELECT DISTINCT lf.path
    FROM added a
    CROSS JOIN LATERAL (SELECT lf.path FROM layer_files lf WHERE lf.blob_digest = a.blob_digest AND lf.type = 1 OFFSET 0) lf
    WHERE NOT EXISTS (SELECT 1 FROM file_paths fp WHERE fp.path = lf.path)
    ORDER BY 1
    ON CONFLICT (path) DO NOTHING;

    INSERT INTO path_layers (path_id, layer, files)
    SELECT fp.id, layerq_digest_key(a.blob_digest), count(*)::integer
    FROM added a
    CROSS JOIN LATERAL (SELECT lf.path FROM layer_files lf WHERE lf.blob_digest = a.blob_digest AND lf.type = 1 OFFSET 0) lf
    CROSS JOIN LATERAL (SELECT fp.id FROM file_paths fp WHERE fp.path = lf.path OFFSET 0) fp
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

-- Membership changes into live_image_layers: manifest p_manifest[i] went
-- live (+1) or dead (-1) in repository p_repo[i]; an image manifest's
-- layers, one row per position, while it is live in the repository.
CREATE OR REPLACE FUNCTION layerq_apply_image_layers(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    WITH c AS (
        SELECT x.repository_id, x.manifest_digest, sum(x.delta) AS delta
        FROM unnest(p_repo, p_manifest, p_delta) AS x (repository_id, manifest_digest, delta)
        GROUP BY 1, 2
        HAVING sum(x.delta) <> 0
    ),
    l AS MATERIALIZED (
        SELECT layerq_digest_key(ml.blob_digest) AS layer, c.repository_id, layerq_digest_key(c.manifest_digest) AS image, ml.position, c.delta
        FROM c
        JOIN manifests m ON m.digest = c.manifest_digest AND m.kind = 'image'
        JOIN manifest_layers ml ON ml.manifest_digest = c.manifest_digest
    ),
    gone AS (
        DELETE FROM live_image_layers k
        USING l
        WHERE l.delta < 0 AND k.layer = l.layer AND k.repository_id = l.repository_id AND k.image = l.image AND k.position = l.position
    )
    INSERT INTO live_image_layers (layer, repository_id, image, position)
    SELECT l.layer, l.repository_id, l.image, l.position FROM l WHERE l.delta > 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING;
END;
$$;

-- live_image_layers counted afresh from the live memberships (the first
-- fold, layerq_load_membership, and migration 00040).
CREATE OR REPLACE FUNCTION layerq_load_image_layers() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM live_image_layers;
    INSERT INTO live_image_layers (layer, repository_id, image, position)
    SELECT layerq_digest_key(ml.blob_digest), rm.repository_id, layerq_digest_key(rm.manifest_digest), ml.position
    FROM repository_manifests rm
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
    WHERE rm.deleted_at IS NULL
    ORDER BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING;
END;
$$;
