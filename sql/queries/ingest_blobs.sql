-- Blobs named by a batch, sorted by digest; '' for an unknown diff_id. A
-- diff_id learned later (a blob first seen as an artifact layer) fills the
-- gap; nothing else ever changes.
-- Rows that would not change are left out before the upsert, which would
-- otherwise lock them: concurrent writers share base layers, and would wait
-- on each other for every one.
INSERT INTO blobs (digest, size, media_type, diff_id)
SELECT t.digest, t.size, t.media_type, nullif(t.diff_id, '')
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS t(digest, size, media_type, diff_id)
WHERE NOT EXISTS (
    SELECT 1 FROM blobs b
    WHERE b.digest = t.digest AND (b.diff_id IS NOT NULL OR t.diff_id = ''))
ON CONFLICT (digest) DO UPDATE SET diff_id = excluded.diff_id
WHERE blobs.diff_id IS NULL AND excluded.diff_id IS NOT NULL
