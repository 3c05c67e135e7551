-- name: ScanRepositoryDone :exec
INSERT INTO scan_repositories (scan_id, repository) VALUES ($1, $2)
ON CONFLICT DO NOTHING;
