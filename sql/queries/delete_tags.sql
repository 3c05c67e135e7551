-- name: DeleteTags :execrows
-- Mark tags of a repository deleted at a time (at) and record each as a tag
-- event; the count is of the events recorded. A tag that moved after at
-- stays: the delete is older than what it would undo.
WITH gone AS (
    UPDATE tags tg SET deleted_at = @at, updated_at = @at
    FROM repositories r
    WHERE r.registry = @registry AND r.name = @repository AND tg.repository_id = r.id
      AND tg.name = ANY(@tags::text[]) AND tg.deleted_at IS NULL AND tg.updated_at <= @at
    RETURNING tg.repository_id, tg.name, tg.manifest_digest
)
INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
SELECT repository_id, name, 'delete', NULL, manifest_digest, @at, @source, sqlc.narg(event_id) FROM gone
ON CONFLICT DO NOTHING;
