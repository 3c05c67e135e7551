-- name: DeleteManifest :one
-- Mark a manifest deleted from one repository at $4, with every tag pointing
-- at it. What was observed after $4 stays.
WITH repo AS (
    SELECT r.id FROM repositories r WHERE r.registry = $1::text AND r.name = $2::text
),
rm AS (
    UPDATE repository_manifests SET deleted_at = $4::timestamp with time zone
    WHERE repository_id = (SELECT id FROM repo) AND manifest_digest = $3::text
      AND deleted_at IS NULL AND observed_at <= $4::timestamp with time zone
    RETURNING manifest_digest
),
gone AS (
    UPDATE tags SET deleted_at = $4::timestamp with time zone, updated_at = $4::timestamp with time zone
    WHERE repository_id = (SELECT id FROM repo) AND manifest_digest = $3::text
      AND deleted_at IS NULL AND updated_at <= $4::timestamp with time zone
    RETURNING repository_id, name, manifest_digest
),
events AS (
    INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
    SELECT repository_id, name, 'delete', NULL, manifest_digest, $4::timestamp with time zone, $5::text, $6::text FROM gone
    ON CONFLICT DO NOTHING
)
SELECT (SELECT count(*) FROM rm), (SELECT count(*) FROM gone);
