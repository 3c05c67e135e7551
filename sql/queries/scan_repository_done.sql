-- name: ScanRepositoryDone :exec
-- Record that a scan finished one repository (once).
INSERT INTO scan_repositories (scan_id, repository) VALUES (@scan_id, @repository)
ON CONFLICT DO NOTHING;
