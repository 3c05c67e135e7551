-- Blobs named by a batch, sorted by digest. A diff_id learned later (a blob
-- first seen as an artifact layer) fills the gap; nothing else ever changes.
INSERT INTO blobs (digest, size, media_type, diff_id)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])
ON CONFLICT (digest) DO UPDATE SET diff_id = excluded.diff_id
WHERE blobs.diff_id IS NULL AND excluded.diff_id IS NOT NULL
