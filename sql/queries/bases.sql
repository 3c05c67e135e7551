-- name: Bases :many
-- Base builds in use (view base_builds) with their live dependents, one row
-- per (build, dependent repository). repository: dependent repository
-- regexp, NULL for all.
SELECT rb.registry AS base_registry, rb.name AS base_repository, b.base_tag, b.base_digest, b.stale,
    coalesce(b.current_digest, '') AS current_digest, r.registry, r.name AS repository, d.images::bigint AS images
FROM base_builds b
JOIN repositories rb ON rb.id = b.base_repository_id
JOIN base_repositories d ON d.base_digest = b.base_digest AND d.images > 0
JOIN repositories r ON r.id = d.repository_id
WHERE sqlc.narg(repository)::text IS NULL OR r.name ~ sqlc.narg(repository)
ORDER BY 1, 2, 3, 4, 7, 8;
