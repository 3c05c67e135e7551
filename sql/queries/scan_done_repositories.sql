-- name: ScanDoneRepositories :many
-- The repositories a scan has finished.
SELECT repository FROM scan_repositories WHERE scan_id = @scan_id;
