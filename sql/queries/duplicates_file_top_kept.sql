-- name: DuplicatesFileTopKept :many
-- The contents stored most often over every repository (what countFiles
-- in internal/report, or duplicates_file_top.sql past its bound, ranks
-- for a filter), as the fold keeps them
-- (file_contents), from its index. limit: how many contents.
SELECT encode(digest, 'hex') AS digest, size, copies, layers::bigint AS layers, (size * (copies - 1))::bigint AS extra_bytes, sample_path
FROM file_contents
WHERE copies > 1 AND size > 0
ORDER BY size * (copies - 1) DESC, digest
LIMIT sqlc.arg('limit')::bigint;
