-- name: RepositoriesMatch :one
-- Whether a repository holding anything live has a name matching
-- repository (a regexp: a --repo glob), for a report that came out empty.
SELECT EXISTS (
    SELECT 1 FROM repositories r
    WHERE r.name ~ @repository::text
      AND (EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.repository_id = r.id AND rm.deleted_at IS NULL)
           OR EXISTS (SELECT 1 FROM tags tg WHERE tg.repository_id = r.id AND tg.deleted_at IS NULL))
) AS matches;
