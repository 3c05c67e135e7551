-- name: ScanDoneRepositories :many
SELECT repository FROM scan_repositories WHERE scan_id = $1;
