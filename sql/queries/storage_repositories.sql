-- name: StorageRepositories :many
-- Storage per repository (view storage_repositories), largest physical
-- first. repository: repository regexp.
SELECT registry, repository, images, logical_bytes, physical_bytes, unique_bytes, shared_bytes
FROM storage_repositories
WHERE repository ~ sqlc.arg(repository)::text
ORDER BY physical_bytes DESC, registry, repository;
