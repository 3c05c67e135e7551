-- name: ScanFinish :exec
-- Mark a scan complete; the next scan of its registry and glob starts afresh.
UPDATE scans SET finished_at = now() WHERE id = @scan_id;
