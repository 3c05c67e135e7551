-- name: DeleteMembership :execrows
-- Mark a manifest (digest) deleted from one repository at a time (at)
-- without touching tags (a scan reconciles tags from the tag list itself).
-- What was observed after at stays.
UPDATE repository_manifests SET deleted_at = @at::timestamptz
WHERE repository_id = (SELECT id FROM repositories WHERE registry = @registry AND name = @repository)
  AND manifest_digest = @digest AND deleted_at IS NULL AND observed_at <= @at::timestamptz;
