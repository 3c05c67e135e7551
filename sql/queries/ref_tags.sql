-- name: RefTags :many
-- The tags of the repositories $1 (ids), live and deleted, the latest moved
-- first: repository id, tag, when it last moved, when it was deleted (NULL
-- while live).
SELECT tg.repository_id, tg.name, tg.updated_at, tg.deleted_at
FROM tags tg
WHERE tg.repository_id = ANY($1::bigint[])
ORDER BY tg.updated_at DESC, tg.name;
