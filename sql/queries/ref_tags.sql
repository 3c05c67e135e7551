-- name: RefTags :many
-- The tags of the repositories whose ids are repository_ids, live and
-- deleted, the latest moved first: repository id, tag, when it last moved,
-- when it was deleted (NULL while live).
SELECT tg.repository_id, tg.name, tg.updated_at, tg.deleted_at
FROM tags tg
WHERE tg.repository_id = ANY(sqlc.arg(repository_ids)::bigint[])
ORDER BY tg.updated_at DESC, tg.name;
