-- `layerq find` by fixed-size keys: paths, their layers, and the live images'
-- layers.
--
-- `find --path NAME` read a heap row of layer_files for every layer
-- holding a file of that name, then found each layer's live images by
-- three B-trees keyed by 71-byte digests, a descent each per holder
-- (manifest_layers by blob, repository_manifests by manifest, manifests
-- for the kind). At 100,000 images with file indexes a name in 3,772
-- layers took 0.72 s as a process, one in 171,959 layers 3.6 s.
--
-- Now:
--   file_paths        each path of a regular file once, with the name
--                     indexes layer_files had (a name, and a name by its
--                     end), which move here;
--   path_layers       per (path, layer): how many entries of the layer
--                     write it, the layer as layerq_digest_key of its
--                     digest (its first 128 bits), by path (index-only);
--   live_image_layers per live (repository, image manifest, position):
--                     its layer, both digests as keys, by layer.
-- A trigger on layer_listings writes the first two with each layer's
-- index (every writer writes the listing after the entries); the fold
-- keeps the third (layerq_apply_image_layers, and the first fold's load).
--
-- The migration folds what is queued first, with the functions as they
-- are, then writes the three from the graph. The fold becomes a stub that
-- takes nothing in until the function files give it its body again (a
-- fold in between, by a process of the previous release, would move the
-- memberships without live_image_layers).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections, layer_files, layer_listings IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_digest_key(p_digest text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN split_part(p_digest, ':', 2) ~ '^[0-9a-f]{32}'
                THEN substr(split_part(p_digest, ':', 2), 1, 32)::uuid
                ELSE md5(p_digest)::uuid END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

-- +goose StatementBegin
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
-- +goose StatementEnd

CREATE TABLE file_paths (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path text NOT NULL UNIQUE
);
INSERT INTO file_paths (path)
SELECT DISTINCT path FROM layer_files WHERE type = 1 ORDER BY 1;
CREATE INDEX file_paths_name_idx ON file_paths (reverse(split_part(reverse(path), '/', 1)) text_pattern_ops);
CREATE INDEX file_paths_name_suffix_idx ON file_paths (split_part(reverse(path), '/', 1) text_pattern_ops);
ANALYZE file_paths;

CREATE TABLE path_layers (
    path_id bigint NOT NULL,  -- file_paths.id
    layer   uuid NOT NULL,    -- layerq_digest_key(the layer blob's digest)
    files   integer NOT NULL  -- the layer's entries at that path (a tar may hold a path twice)
);
INSERT INTO path_layers (path_id, layer, files)
SELECT fp.id, layerq_digest_key(lf.blob_digest), count(*)::integer
FROM layer_files lf JOIN file_paths fp ON fp.path = lf.path
WHERE lf.type = 1
GROUP BY 1, 2
ORDER BY 1, 2;
ALTER TABLE path_layers ADD PRIMARY KEY (path_id, layer) INCLUDE (files);
ANALYZE path_layers;

CREATE TRIGGER layer_listings_paths AFTER INSERT ON layer_listings
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION layerq_index_paths();

DROP INDEX layer_files_name_idx;
DROP INDEX layer_files_name_suffix_idx;

CREATE TABLE live_image_layers (
    layer         uuid NOT NULL,    -- layerq_digest_key(the layer blob's digest)
    repository_id bigint NOT NULL,
    image         uuid NOT NULL,    -- layerq_digest_key(the image manifest's digest)
    position      integer NOT NULL,
    PRIMARY KEY (layer, repository_id, image, position)
);
SELECT layerq_load_image_layers();
ANALYZE live_image_layers;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON live_image_layers FROM layerq_writer;
        -- The trigger on layer_listings inserts as the writer, and no more.
        REVOKE UPDATE, DELETE ON file_paths, path_layers FROM layerq_writer;
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
-- The fold of the release before keeps no such table; until its file
-- gives the fold its body again, the fold takes nothing in.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
DROP TRIGGER layer_listings_paths ON layer_listings;
DROP TABLE live_image_layers;
DROP TABLE path_layers;
DROP TABLE file_paths;
CREATE INDEX layer_files_name_idx ON layer_files (reverse(split_part(reverse(path), '/', 1)) text_pattern_ops);
CREATE INDEX layer_files_name_suffix_idx ON layer_files (split_part(reverse(path), '/', 1) text_pattern_ops);
DROP FUNCTION layerq_index_paths();
DROP FUNCTION layerq_apply_image_layers(bigint[], text[], integer[]);
DROP FUNCTION layerq_load_image_layers();
DROP FUNCTION layerq_digest_key(text);
