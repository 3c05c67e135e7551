-- The file index entries of layers $1 (diff_ids), in tar order.
SELECT diff_id, type, path, size, mode, uid, gid, digest, coalesce(link, '')
FROM layer_files
WHERE diff_id = ANY ($1::text[])
ORDER BY diff_id, ordinal
