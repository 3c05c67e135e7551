-- name: DeleteManifest :one
-- Mark a manifest (digest) deleted from one repository at a time (at), with
-- every tag pointing at it; returns how many memberships (manifests) and tags
-- it marked. What was observed after at stays.
WITH repo AS (
    SELECT r.id FROM repositories r WHERE r.registry = @registry::text AND r.name = @repository::text
),
rm AS (
    UPDATE repository_manifests SET deleted_at = @at::timestamp with time zone
    WHERE repository_id = (SELECT id FROM repo) AND manifest_digest = @digest::text
      AND deleted_at IS NULL AND observed_at <= @at::timestamp with time zone
    RETURNING manifest_digest
),
gone AS (
    UPDATE tags SET deleted_at = @at::timestamp with time zone, updated_at = @at::timestamp with time zone
    WHERE repository_id = (SELECT id FROM repo) AND manifest_digest = @digest::text
      AND deleted_at IS NULL AND updated_at <= @at::timestamp with time zone
    RETURNING repository_id, name, manifest_digest
),
events AS (
    INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
    SELECT repository_id, name, 'delete', NULL, manifest_digest, @at::timestamp with time zone, @source::text, sqlc.narg(event_id)::text FROM gone
    ON CONFLICT DO NOTHING
)
SELECT (SELECT count(*) FROM rm) AS manifests, (SELECT count(*) FROM gone) AS tags;
