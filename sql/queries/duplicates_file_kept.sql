-- name: DuplicatesFileKept :one
-- duplicates_file.sql over every repository, as the fold keeps it
-- (file_totals).
SELECT layers, unindexed, files, total_bytes, unique_files, unique_bytes FROM file_totals;
