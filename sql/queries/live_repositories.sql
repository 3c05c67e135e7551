-- name: LiveRepositories :many
-- Repositories of a registry that hold anything live, by name.
SELECT r.name FROM repositories r
WHERE r.registry = @registry AND (
    EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.repository_id = r.id AND rm.deleted_at IS NULL)
    OR EXISTS (SELECT 1 FROM tags tg WHERE tg.repository_id = r.id AND tg.deleted_at IS NULL))
ORDER BY r.name;
