-- Blobs named by a batch, sorted by digest; '' for an unknown diff_id. A
-- diff_id learned later (a blob first seen as an artifact layer) fills the
-- gap; one blob listed with several media types (Docker and OCI manifests
-- of the same layer) keeps the least, whichever order they arrive in, so
-- that what the reports show does not depend on which was walked first.
-- Nothing else ever changes.
-- Rows that would not change are left out before the upsert, which would
-- otherwise lock them: concurrent writers share base layers, and would wait
-- on each other for every one.
INSERT INTO blobs (digest, size, media_type, diff_id)
SELECT t.digest, t.size, t.media_type, nullif(t.diff_id, '')
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS t(digest, size, media_type, diff_id)
WHERE NOT EXISTS (
    SELECT 1 FROM blobs b
    WHERE b.digest = t.digest AND (b.diff_id IS NOT NULL OR t.diff_id = '') AND b.media_type <= t.media_type)
ON CONFLICT (digest) DO UPDATE
SET diff_id = coalesce(blobs.diff_id, excluded.diff_id), media_type = least(blobs.media_type, excluded.media_type)
WHERE (blobs.diff_id IS NULL AND excluded.diff_id IS NOT NULL) OR excluded.media_type < blobs.media_type
