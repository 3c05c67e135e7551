-- name: DeleteTags :exec
-- Mark tags deleted ($3: tag names) at $4 and record each as a tag event. A
-- tag that moved after $4 stays: the delete is older than what it would undo.
WITH gone AS (
    UPDATE tags tg SET deleted_at = $4, updated_at = $4
    FROM repositories r
    WHERE r.registry = $1 AND r.name = $2 AND tg.repository_id = r.id
      AND tg.name = ANY($3::text[]) AND tg.deleted_at IS NULL AND tg.updated_at <= $4
    RETURNING tg.repository_id, tg.name, tg.manifest_digest
)
INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
SELECT repository_id, name, 'delete', NULL, manifest_digest, $4, $5, $6 FROM gone
ON CONFLICT DO NOTHING;
