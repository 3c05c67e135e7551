-- name: DuplicatesFileKept :one
-- duplicates --kind file over every repository (what countFiles in
-- internal/report, or duplicates_file.sql past its bound, counts for a
-- filter), as the fold keeps it (file_totals).
SELECT layers, unindexed, files, total_bytes, unique_files, unique_bytes FROM file_totals;
