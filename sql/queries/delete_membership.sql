-- name: DeleteMembership :exec
-- Mark a manifest deleted from one repository at $4 without touching tags
-- (a scan reconciles tags from the tag list itself). What was observed after
-- $4 stays.
UPDATE repository_manifests SET deleted_at = $4
WHERE repository_id = (SELECT id FROM repositories WHERE registry = $1 AND name = $2)
  AND manifest_digest = $3 AND deleted_at IS NULL AND observed_at <= $4;
