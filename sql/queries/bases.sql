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
-- build lacks).
WITH b AS MATERIALIZED (
    SELECT rb.registry AS base_registry, rb.name AS base_repository, bb.base_tag, bb.base_digest, bb.stale,
        coalesce(bb.current_digest, '') AS current_digest, bb.images
    FROM base_builds bb
    JOIN repositories rb ON rb.id = bb.base_repository_id
),
d AS MATERIALIZED (
    SELECT b.base_registry, b.base_repository, b.base_tag, b.base_digest, b.stale, b.current_digest, dr.repository_id, dr.images
    FROM b JOIN base_repositories dr ON dr.base_digest = b.base_digest AND dr.images > 0
    WHERE dr.repository_id IN (SELECT id FROM repositories WHERE sqlc.narg(repository)::text IS NULL OR name ~ sqlc.narg(repository))
),
per_repo AS (
    SELECT base_registry, base_repository, base_tag, repository_id,
        sum(images)::bigint AS images, coalesce(sum(images) FILTER (WHERE stale), 0)::bigint AS stale_images
    FROM d GROUP BY 1, 2, 3, 4
),
stale AS (
    SELECT DISTINCT base_registry, base_repository, base_tag, base_digest, current_digest FROM d WHERE stale
),
pinned AS (
    SELECT p.base_registry, p.base_repository, p.base_tag, sum(bl.size)::bigint AS bytes
    FROM (
        SELECT s.base_registry, s.base_repository, s.base_tag, ml.blob_digest
        FROM stale s JOIN manifest_layers ml ON ml.manifest_digest = s.base_digest
        EXCEPT
        SELECT s.base_registry, s.base_repository, s.base_tag, ml.blob_digest
        FROM stale s JOIN manifest_layers ml ON ml.manifest_digest = s.current_digest
    ) p
    JOIN blobs bl ON bl.digest = p.blob_digest
    GROUP BY 1, 2, 3
),
ranked AS (
    SELECT p.base_registry, p.base_repository, p.base_tag, r.registry, r.name, p.images, p.stale_images,
        row_number() OVER w AS rank,
        count(*) OVER k AS repositories, count(*) FILTER (WHERE p.stale_images > 0) OVER k AS stale_repositories
    FROM per_repo p JOIN repositories r ON r.id = p.repository_id
    WINDOW k AS (PARTITION BY p.base_registry, p.base_repository, p.base_tag),
        w AS (k ORDER BY p.images DESC, r.name, r.registry)
)
-- Every repository: the view's own counts per build; a filter: the
-- matching dependents' (one branch runs).
SELECT 'build' AS what, base_registry, base_repository, base_tag, base_digest, stale, current_digest,
    images::bigint AS images, 0::bigint AS stale_images, '' AS registry, '' AS repository, 0::bigint AS repositories, 0::bigint AS stale_repositories,
    0::bigint AS rank
FROM b WHERE sqlc.narg(repository)::text IS NULL
UNION ALL
SELECT 'build', base_registry, base_repository, base_tag, base_digest, stale, current_digest, sum(images)::bigint, 0, '', '', 0, 0, 0
FROM d WHERE sqlc.narg(repository)::text IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7
UNION ALL
SELECT 'dependent', base_registry, base_repository, base_tag, '', false, '', images, stale_images, registry, name, repositories, stale_repositories, rank
FROM ranked
WHERE sqlc.arg(top)::integer = 0 OR rank <= sqlc.arg(top)::integer
UNION ALL
SELECT 'pinned', base_registry, base_repository, base_tag, '', false, '', bytes, 0, '', '', 0, 0, 0
FROM pinned
ORDER BY 1, 2, 3, 4, 5, 14;
