-- name: FindHolders :many
-- What find looks for, by the one search given: the layer blobs layers;
-- or the regular files whose base name is like name_like (a LIKE pattern,
-- read from the name index), whose base name reversed is like
-- name_end_like (read from the index of names reversed: a literal end
-- reversed, then %) and whose path matches path_re (each NULL: any); or
-- those with content digest content. Then the live images
-- (in repositories matching repository, a regexp; NULL for all) whose
-- layers hold them: on every row the totals (matches: each holding
-- layer's files, or 1 for a layer; images; repositories), and the first
-- page_size (0: all) matches by repository, image, position and path
-- (then the file's place in its layer: a tar may hold a path twice), with
-- the layer's step. When no image holds one, one row: the totals, 0,
-- and the match's columns NULL.
-- A popular file name is in 100,000s of layers: they are counted here,
-- and only the page leaves the server.
WITH h AS MATERIALIZED (
    SELECT r.id AS repository_id, r.registry, r.name, ml.manifest_digest, ml.position, ml.blob_digest, f.path, f.ordinal, f.size
    FROM (
        SELECT lf.blob_digest, lf.path, lf.ordinal, lf.size
        FROM layer_files lf
        WHERE (sqlc.narg(name_like)::text IS NOT NULL OR sqlc.narg(name_end_like)::text IS NOT NULL) AND lf.type = 1
          AND (sqlc.narg(name_like)::text IS NULL OR reverse(split_part(reverse(lf.path), '/', 1)) LIKE sqlc.narg(name_like)::text)
          AND (sqlc.narg(name_end_like)::text IS NULL OR split_part(reverse(lf.path), '/', 1) LIKE sqlc.narg(name_end_like)::text)
          -- In a CASE the planner takes the regexp to keep half the rows,
          -- not the hundredth it guesses for one without a literal start:
          -- the name's own estimate decides the joins.
          AND (sqlc.narg(path_re)::text IS NULL OR CASE WHEN lf.path ~ sqlc.narg(path_re)::text THEN true ELSE false END)
        UNION ALL
        SELECT lf.blob_digest, lf.path, lf.ordinal, lf.size
        FROM layer_files lf
        WHERE sqlc.narg(content)::bytea IS NOT NULL AND lf.type = 1 AND lf.digest = sqlc.narg(content)::bytea
        UNION ALL
        SELECT l, NULL, NULL, NULL FROM unnest(sqlc.narg(layers)::text[]) AS l
    ) f
    JOIN manifest_layers ml ON ml.blob_digest = f.blob_digest
    JOIN manifests m ON m.digest = ml.manifest_digest AND m.kind = 'image'
    JOIN repository_manifests rm ON rm.manifest_digest = ml.manifest_digest AND rm.deleted_at IS NULL
    JOIN repositories r ON r.id = rm.repository_id
    WHERE sqlc.narg(repository)::text IS NULL OR r.name ~ sqlc.narg(repository)::text
),
t AS (
    -- Each distinct count by its own hashing: count(DISTINCT ...) sorts
    -- (0.4 s of 1.2 for a popular name).
    SELECT (SELECT count(*) FROM h) AS matches,
        (SELECT count(*) FROM (SELECT DISTINCT repository_id, manifest_digest FROM h) i) AS images,
        (SELECT count(*) FROM (SELECT DISTINCT repository_id FROM h) r) AS repositories
),
p AS (
    SELECT h.* FROM h
    ORDER BY h.registry, h.name, h.manifest_digest, h.position, h.path, h.ordinal
    LIMIT CASE WHEN sqlc.arg(page_size)::integer = 0 THEN NULL ELSE sqlc.arg(page_size)::integer END
)
SELECT t.matches, t.images, t.repositories,
    p.repository_id, p.registry, p.name AS repository, p.manifest_digest AS digest, p.position, p.blob_digest,
    p.path, p.ordinal, p.size, coalesce(ml.created_by, '')::text AS created_by
FROM t
LEFT JOIN p ON true
-- The step for the page's rows only: h reads manifest_layers from its
-- blob index alone, without the rows' steps.
LEFT JOIN manifest_layers ml ON ml.manifest_digest = p.manifest_digest AND ml.position = p.position
ORDER BY p.registry, p.name, p.manifest_digest, p.position, p.path, p.ordinal;

-- name: FindImageNames :many
-- For each image of a repository, given as keys "REPOSITORY_ID DIGEST": the platform
-- (as an index of that repository declares it, else the image's config's)
-- and the live tags (on the image, or on an index holding it).
SELECT u.repository_id::bigint AS repository_id, u.digest::text AS digest,
    coalesce((SELECT layerq_platform(c.os, c.architecture, c.variant) FROM index_children c
              JOIN repository_manifests ri ON ri.manifest_digest = c.index_digest AND ri.repository_id = u.repository_id AND ri.deleted_at IS NULL
              WHERE c.child_digest = u.digest LIMIT 1),
             layerq_platform(m.os, m.architecture, m.variant), '')::text AS platform,
    (SELECT coalesce(array_agg(DISTINCT t.name ORDER BY t.name), '{}') FROM tags t
     WHERE t.repository_id = u.repository_id AND t.deleted_at IS NULL
       AND (t.manifest_digest = u.digest
            OR t.manifest_digest IN (SELECT c.index_digest FROM index_children c WHERE c.child_digest = u.digest)))::text[] AS tags
FROM (SELECT split_part(k, ' ', 1)::bigint AS repository_id, split_part(k, ' ', 2) AS digest
      FROM unnest(sqlc.arg(keys)::text[]) AS k) u
JOIN manifests m ON m.digest = u.digest;
