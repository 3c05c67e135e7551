-- name: StorageRepositories :many
-- Storage per repository (view storage_repositories), largest physical
-- first. $1: repository regexp.
SELECT registry, repository, images, logical_bytes, physical_bytes, unique_bytes, shared_bytes
FROM storage_repositories
WHERE repository ~ $1
ORDER BY physical_bytes DESC, registry, repository;
