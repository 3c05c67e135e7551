-- name: DeleteRepository :one
-- Mark everything live in a repository deleted at a time (at) (the registry
-- no longer lists it), recording each tag as deleted; returns how many
-- memberships (manifests) and tags it marked. What was observed after at
-- stays.
WITH repo AS (
    SELECT r.id FROM repositories r WHERE r.registry = @registry::text AND r.name = @repository::text
),
rm AS (
    UPDATE repository_manifests SET deleted_at = @at::timestamptz
    WHERE repository_id = (SELECT id FROM repo) AND deleted_at IS NULL AND observed_at <= @at::timestamptz
    RETURNING manifest_digest
),
gone AS (
    UPDATE tags SET deleted_at = @at::timestamptz, updated_at = @at::timestamptz
    WHERE repository_id = (SELECT id FROM repo) AND deleted_at IS NULL AND updated_at <= @at::timestamptz
    RETURNING repository_id, name, manifest_digest
),
events AS (
    INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
    SELECT repository_id, name, 'delete', NULL, manifest_digest, @at::timestamptz, @source, NULL FROM gone
)
SELECT (SELECT count(*) FROM rm) AS manifests, (SELECT count(*) FROM gone) AS tags;
