-- name: RefRepositories :many
-- Every repository the graph knows, and whether it holds anything live:
-- what a reference naming no repository is compared with.
SELECT r.id, r.registry, r.name,
    (EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.repository_id = r.id AND rm.deleted_at IS NULL)
     OR EXISTS (SELECT 1 FROM tags tg WHERE tg.repository_id = r.id AND tg.deleted_at IS NULL))::boolean AS live
FROM repositories r
ORDER BY r.registry, r.name;
