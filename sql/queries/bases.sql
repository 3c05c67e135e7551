-- name: Bases :many
-- Base builds in use (view base_builds) with their live dependents counted,
-- one row per build: the images in repositories matching repository (a
-- regexp, NULL for all: the view's own count) built on it.
SELECT rb.registry AS base_registry, rb.name AS base_repository, b.base_tag, b.base_digest, b.stale,
    coalesce(b.current_digest, '') AS current_digest, b.images::bigint AS images
FROM base_builds b
JOIN repositories rb ON rb.id = b.base_repository_id
WHERE sqlc.narg(repository)::text IS NULL
UNION ALL
SELECT rb.registry, rb.name, b.base_tag, b.base_digest, b.stale, coalesce(b.current_digest, ''), sum(d.images)::bigint
FROM base_builds b
JOIN repositories rb ON rb.id = b.base_repository_id
JOIN base_repositories d ON d.base_digest = b.base_digest AND d.images > 0
WHERE sqlc.narg(repository)::text IS NOT NULL
  AND d.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository))
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY 1, 2, 3, 4;

-- name: BaseDependents :many
-- Each base's (registry, repository, tag) dependent repositories matching
-- repository (a regexp, NULL for all): their live images on its builds and
-- those on stale ones, the top (0: all) by images, each row with the base's
-- count of dependent repositories and of those with stale images.
WITH per_repo AS (
    SELECT rb.registry AS base_registry, rb.name AS base_repository, b.base_tag, d.repository_id,
        sum(d.images)::bigint AS images, coalesce(sum(d.images) FILTER (WHERE b.stale), 0)::bigint AS stale_images
    FROM base_builds b
    JOIN repositories rb ON rb.id = b.base_repository_id
    JOIN base_repositories d ON d.base_digest = b.base_digest AND d.images > 0
    WHERE sqlc.narg(repository)::text IS NULL OR d.repository_id IN (SELECT id FROM repositories WHERE name ~ sqlc.narg(repository))
    GROUP BY 1, 2, 3, 4
),
ranked AS (
    SELECT p.base_registry, p.base_repository, p.base_tag, r.registry, r.name, p.images, p.stale_images,
        row_number() OVER w AS rank,
        count(*) OVER b AS repositories, count(*) FILTER (WHERE p.stale_images > 0) OVER b AS stale_repositories
    FROM per_repo p JOIN repositories r ON r.id = p.repository_id
    WINDOW b AS (PARTITION BY p.base_registry, p.base_repository, p.base_tag),
        w AS (b ORDER BY p.images DESC, r.name, r.registry)
)
SELECT base_registry, base_repository, base_tag, registry, name AS repository, images, stale_images, repositories, stale_repositories
FROM ranked
WHERE sqlc.arg(top)::integer = 0 OR rank <= sqlc.arg(top)::integer
ORDER BY 1, 2, 3, rank;
