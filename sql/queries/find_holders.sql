-- name: FindHolders :many
-- What find looks for, by the one search given: the layer blobs layers;
-- or the paths of regular files (file_paths) whose base name is like
-- name_like (a LIKE pattern, read from the name index), whose base name
-- reversed is like name_end_like (read from the index of names reversed:
-- a literal end reversed, then %) and that match path_re (each NULL:
-- any), with the layers holding each (path_layers); or the files with
-- content digest content. Then the live images (in repositories matching
-- repository, a regexp; NULL for all) whose layers hold them
-- (live_image_layers): on every row the totals (matches: each holding
-- layer's files, or 1 for a layer; images; repositories), and the first
-- page_size (0: all) holders by repository, image, position and path
-- (then the file's place in its layer, when the search knows it), with
-- the image's and the layer's digests and the layer's step. A holder of a
-- path found by name has no ordinal and no size (its layer's listing
-- says), and files: how many entries of its layer write the path; the
-- holder of a layer has path ''. When no image holds one, one row: the
-- totals, 0, and the holder's columns NULL.
-- A popular file name is in 100,000s of layers: they are counted here,
-- and only the page leaves the server.
WITH ps AS MATERIALIZED (
    -- The paths found by name, numbered in path order (the page's order).
    SELECT fp.id, fp.path, row_number() OVER (ORDER BY fp.path) AS path_rank
    FROM file_paths fp
    WHERE (sqlc.narg(name_like)::text IS NOT NULL OR sqlc.narg(name_end_like)::text IS NOT NULL)
      AND (sqlc.narg(name_like)::text IS NULL OR reverse(split_part(reverse(fp.path), '/', 1)) LIKE sqlc.narg(name_like)::text)
      AND (sqlc.narg(name_end_like)::text IS NULL OR split_part(reverse(fp.path), '/', 1) LIKE sqlc.narg(name_end_like)::text)
      AND (sqlc.narg(path_re)::text IS NULL OR fp.path ~ sqlc.narg(path_re)::text)
),
cs AS MATERIALIZED (
    -- The files with the content, each numbered in (path, layer, ordinal)
    -- order.
    SELECT layerq_digest_key(lf.blob_digest) AS layer, lf.path, lf.ordinal, lf.size,
        row_number() OVER (ORDER BY lf.path, lf.blob_digest, lf.ordinal) AS path_rank
    FROM layer_files lf
    WHERE sqlc.narg(content)::bytea IS NOT NULL AND lf.type = 1 AND lf.digest = sqlc.narg(content)::bytea
),
f AS (
    -- What was found, as (layer key, entries, the path's rank).
    SELECT pl.layer, pl.files, ps.path_rank
    FROM ps JOIN path_layers pl ON pl.path_id = ps.id
    UNION ALL
    SELECT cs.layer, 1, cs.path_rank FROM cs
    UNION ALL
    SELECT layerq_digest_key(l), 1, 0 FROM unnest(sqlc.narg(layers)::text[]) AS l
),
h AS MATERIALIZED (
    -- Each layer's live images by a probe of the key (OFFSET 0 keeps the
    -- planner from merging the whole table in instead: a name's estimate
    -- is the average name's).
    SELECT l.repository_id, l.image, l.position, f.path_rank, f.files
    FROM f
    CROSS JOIN LATERAL (SELECT l.repository_id, l.image, l.position FROM live_image_layers l WHERE l.layer = f.layer OFFSET 0) l
    WHERE sqlc.narg(repository)::text IS NULL
       OR l.repository_id IN (SELECT r.id FROM repositories r WHERE r.name ~ sqlc.narg(repository)::text)
),
t AS (
    -- The images first, then their repositories: one hashing of the
    -- holders (count(DISTINCT ...) sorts them).
    SELECT coalesce(sum(i.files), 0) AS matches, count(*) AS images, count(DISTINCT i.repository_id) AS repositories
    FROM (SELECT h.repository_id, h.image, sum(h.files) AS files FROM h GROUP BY 1, 2) i
),
rk AS MATERIALIZED (
    -- The repositories holding one, each by its key, numbered in
    -- (registry, name) order.
    SELECT x.repository_id AS id, r.registry, r.name, row_number() OVER (ORDER BY r.registry, r.name, x.repository_id) AS repo_rank
    FROM (SELECT DISTINCT h.repository_id FROM h) x
    CROSS JOIN LATERAL (SELECT r.registry, r.name FROM repositories r WHERE r.id = x.repository_id OFFSET 0) r
),
p AS (
    SELECT h.*, rk.registry, rk.name, rk.repo_rank FROM h JOIN rk ON rk.id = h.repository_id
    ORDER BY rk.repo_rank, h.image, h.position, h.path_rank
    LIMIT CASE WHEN sqlc.arg(page_size)::integer = 0 THEN NULL ELSE sqlc.arg(page_size)::integer END
),
-- The page's images by digest, from their keys: a digest's key is its
-- first 32 hex digits, so a sha256 digest is in the range they start; any
-- other, by its key among the repository's. Deleted or not: the holders
-- are the live ones as of the last fold.
pd AS (
    SELECT p.*, (SELECT coalesce(
        (SELECT rm.manifest_digest FROM repository_manifests rm
         WHERE rm.repository_id = p.repository_id
           AND rm.manifest_digest >= 'sha256:' || replace(p.image::text, '-', '')
           AND rm.manifest_digest < 'sha256:' || replace(p.image::text, '-', '') || 'g'
           AND layerq_digest_key(rm.manifest_digest) = p.image
         ORDER BY 1 LIMIT 1),
        (SELECT rm.manifest_digest FROM repository_manifests rm
         WHERE rm.repository_id = p.repository_id AND layerq_digest_key(rm.manifest_digest) = p.image
         ORDER BY 1 LIMIT 1)))::text AS digest
    FROM p
)
SELECT t.matches::bigint AS matches, t.images, t.repositories::bigint AS repositories,
    pd.repository_id, pd.registry, pd.name AS repository, pd.digest, pd.position, ml.blob_digest,
    coalesce(ps.path, cs.path, '')::text AS path, cs.ordinal, cs.size, pd.files, coalesce(ml.created_by, '')::text AS created_by
FROM t
LEFT JOIN pd ON true
LEFT JOIN ps ON ps.path_rank = pd.path_rank
LEFT JOIN cs ON cs.path_rank = pd.path_rank
LEFT JOIN manifest_layers ml ON ml.manifest_digest = pd.digest AND ml.position = pd.position
ORDER BY pd.repo_rank, pd.image, pd.position, pd.path_rank;

-- name: FindImageNames :many
-- For each image of a repository, given as keys "REPOSITORY_ID DIGEST": the platform
-- (as an index of that repository declares it, variant and all, as image
-- shows it; else the image's config's) and the live tags (on the image,
-- or on an index holding it).
SELECT u.repository_id::bigint AS repository_id, u.digest::text AS digest,
    coalesce((SELECT nullif(concat_ws('/', nullif(c.os, ''), nullif(c.architecture, ''), nullif(c.variant, '')), '') FROM index_children c
              JOIN repository_manifests ri ON ri.manifest_digest = c.index_digest AND ri.repository_id = u.repository_id AND ri.deleted_at IS NULL
              WHERE c.child_digest = u.digest LIMIT 1),
             nullif(concat_ws('/', nullif(m.os, ''), nullif(m.architecture, ''), nullif(m.variant, '')), ''), '')::text AS platform,
    (SELECT coalesce(array_agg(DISTINCT t.name ORDER BY t.name), '{}') FROM tags t
     WHERE t.repository_id = u.repository_id AND t.deleted_at IS NULL
       AND (t.manifest_digest = u.digest
            OR t.manifest_digest IN (SELECT c.index_digest FROM index_children c WHERE c.child_digest = u.digest)))::text[] AS tags
FROM (SELECT split_part(k, ' ', 1)::bigint AS repository_id, split_part(k, ' ', 2) AS digest
      FROM unnest(sqlc.arg(keys)::text[]) AS k) u
JOIN manifests m ON m.digest = u.digest;
