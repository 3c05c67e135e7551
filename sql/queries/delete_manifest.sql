-- Mark a manifest deleted from one repository at $4, with every tag pointing
-- at it. What was observed after $4 stays.
WITH repo AS (
    SELECT id FROM repositories WHERE registry = $1 AND name = $2
),
rm AS (
    UPDATE repository_manifests SET deleted_at = $4
    WHERE repository_id = (SELECT id FROM repo) AND manifest_digest = $3
      AND deleted_at IS NULL AND observed_at <= $4
    RETURNING manifest_digest
),
gone AS (
    UPDATE tags SET deleted_at = $4, updated_at = $4
    WHERE repository_id = (SELECT id FROM repo) AND manifest_digest = $3
      AND deleted_at IS NULL AND updated_at <= $4
    RETURNING repository_id, name, manifest_digest
),
events AS (
    INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
    SELECT repository_id, name, 'delete', NULL, manifest_digest, $4, $5, $6 FROM gone
    ON CONFLICT DO NOTHING
)
SELECT (SELECT count(*) FROM rm), (SELECT count(*) FROM gone)
