-- name: DuplicatesFileTopKept :many
-- duplicates_file_top.sql over every repository, as the fold keeps it
-- (file_contents), from its index. limit: how many contents.
SELECT encode(digest, 'hex') AS digest, size, copies, layers::bigint AS layers, (size * (copies - 1))::bigint AS extra_bytes, sample_path
FROM file_contents
WHERE copies > 1 AND size > 0
ORDER BY size * (copies - 1) DESC, digest
LIMIT sqlc.arg('limit')::bigint;
