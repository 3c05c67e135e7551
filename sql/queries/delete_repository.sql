-- name: DeleteRepository :one
-- Mark everything live in a repository deleted at $3 (the registry no longer
-- lists it), recording each tag as deleted. What was observed after $3 stays.
WITH repo AS (
    SELECT r.id FROM repositories r WHERE r.registry = $1::text AND r.name = $2::text
),
rm AS (
    UPDATE repository_manifests SET deleted_at = $3
    WHERE repository_id = (SELECT id FROM repo) AND deleted_at IS NULL AND observed_at <= $3
    RETURNING manifest_digest
),
gone AS (
    UPDATE tags SET deleted_at = $3, updated_at = $3
    WHERE repository_id = (SELECT id FROM repo) AND deleted_at IS NULL AND updated_at <= $3
    RETURNING repository_id, name, manifest_digest
),
events AS (
    INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
    SELECT repository_id, name, 'delete', NULL, manifest_digest, $3, $4, NULL FROM gone
)
SELECT (SELECT count(*) FROM rm), (SELECT count(*) FROM gone);
