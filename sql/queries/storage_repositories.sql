-- name: StorageRepositories :many
-- Storage per repository (view storage_repositories), largest physical
-- first: the first limit rows (0: all), each with how many match.
-- repository: repository regexp.
SELECT registry, repository, images, logical_bytes, physical_bytes, unique_bytes, shared_bytes, count(*) OVER () AS matching
FROM storage_repositories
WHERE repository ~ sqlc.arg(repository)::text
ORDER BY physical_bytes DESC, registry, repository
LIMIT CASE WHEN sqlc.arg('limit')::integer = 0 THEN NULL ELSE sqlc.arg('limit')::integer END;
