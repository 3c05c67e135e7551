-- name: Bases :many
-- Base builds in use (view base_builds, read once) and their live
-- dependents in repositories matching repository (a regexp, NULL for all),
-- each row saying what it is: a build ('build', with the images built on
-- it), a base's (registry, repository, tag) dependent repository
-- ('dependent', with its images on the base's builds and those on stale
-- ones; the top (0: all) by images, each with the base's count of
-- dependent repositories and of those with stale images), or the bytes
-- its stale builds keep stored ('pinned', in images: the distinct layer
-- blobs of its stale builds with a matching dependent that its current
-- build lacks). Every repository's dependents are the kept ones
-- (base_dependents); a filter's are summed from base_repositories.
WITH b AS MATERIALIZED (
    -- Each build numbered (build_id), and its base named once (base_id):
    -- the rows below carry the numbers, not the names and digests.
    SELECT row_number() OVER () AS build_id,
        dense_rank() OVER (ORDER BY rb.registry, rb.name, bb.base_tag) AS base_id,
        bb.base_repository_id, rb.registry AS base_registry, rb.name AS base_repository, bb.base_tag, bb.base_digest, bb.stale,
        coalesce(bb.current_digest, '') AS current_digest, bb.images
    FROM base_builds bb
    JOIN repositories rb ON rb.id = bb.base_repository_id
),
d AS MATERIALIZED (
    -- A filter's dependents, per build.
    SELECT b.build_id, b.base_id, b.stale, dr.repository_id, dr.images
    FROM b JOIN base_repositories dr ON dr.base_digest = b.base_digest AND dr.images > 0
    WHERE sqlc.narg(repository)::text IS NOT NULL
      AND dr.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository))
),
names AS (
    SELECT DISTINCT base_id, base_repository_id, base_registry, base_repository, base_tag FROM b
),
per_repo AS MATERIALIZED (
    SELECT n.base_id, k.repository_id, k.images, k.stale_images
    FROM names n
    JOIN base_dependents k ON k.base_repository_id = n.base_repository_id AND k.base_tag = n.base_tag AND k.images > 0
    WHERE sqlc.narg(repository)::text IS NULL
    UNION ALL
    SELECT base_id, repository_id, sum(images)::bigint, coalesce(sum(images) FILTER (WHERE stale), 0)::bigint
    FROM d GROUP BY 1, 2
),
counted AS (
    SELECT base_id, count(*) AS repositories, count(*) FILTER (WHERE stale_images > 0) AS stale_repositories
    FROM per_repo GROUP BY 1
),
candidates AS (
    -- The top by images, ties at the last place included: only those
    -- are named and ranked by name.
    SELECT base_id, repository_id, images, stale_images FROM (
        SELECT p.*, rank() OVER (PARTITION BY base_id ORDER BY images DESC) AS place FROM per_repo p
    ) x
    WHERE sqlc.arg(top)::integer = 0 OR place <= sqlc.arg(top)::integer
),
ranked AS (
    SELECT c.base_id, r.registry, r.name, c.images, c.stale_images,
        row_number() OVER (PARTITION BY c.base_id ORDER BY c.images DESC, r.name, r.registry) AS rank
    FROM candidates c JOIN repositories r ON r.id = c.repository_id
),
stale AS (
    SELECT base_id, base_digest, current_digest FROM b
    WHERE stale AND (sqlc.narg(repository)::text IS NULL OR build_id IN (SELECT build_id FROM d))
),
pinned AS (
    SELECT p.base_id, sum(bl.size)::bigint AS bytes
    FROM (
        SELECT s.base_id, ml.blob_digest FROM stale s JOIN manifest_layers ml ON ml.manifest_digest = s.base_digest
        EXCEPT
        SELECT s.base_id, ml.blob_digest FROM stale s JOIN manifest_layers ml ON ml.manifest_digest = s.current_digest
    ) p
    JOIN blobs bl ON bl.digest = p.blob_digest
    GROUP BY 1
)
-- Every repository: the view's own counts per build; a filter: the
-- matching dependents' (one branch runs).
SELECT 'build' AS what, base_registry, base_repository, base_tag, base_digest, stale, current_digest,
    images::bigint AS images, 0::bigint AS stale_images, '' AS registry, '' AS repository, 0::bigint AS repositories, 0::bigint AS stale_repositories,
    0::bigint AS rank
FROM b WHERE sqlc.narg(repository)::text IS NULL
UNION ALL
SELECT 'build', b.base_registry, b.base_repository, b.base_tag, b.base_digest, b.stale, b.current_digest, sum(d.images)::bigint, 0, '', '', 0, 0, 0
FROM d JOIN b USING (build_id)
WHERE sqlc.narg(repository)::text IS NOT NULL
GROUP BY b.build_id, b.base_registry, b.base_repository, b.base_tag, b.base_digest, b.stale, b.current_digest
UNION ALL
SELECT 'dependent', n.base_registry, n.base_repository, n.base_tag, '', false, '', r.images, r.stale_images, r.registry, r.name,
    c.repositories, c.stale_repositories, r.rank
FROM ranked r JOIN names n USING (base_id) JOIN counted c USING (base_id)
WHERE sqlc.arg(top)::integer = 0 OR r.rank <= sqlc.arg(top)::integer
UNION ALL
SELECT 'pinned', n.base_registry, n.base_repository, n.base_tag, '', false, '', p.bytes, 0, '', '', 0, 0, 0
FROM pinned p JOIN names n USING (base_id)
ORDER BY 1, 2, 3, 4, 5, 14;
