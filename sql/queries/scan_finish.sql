-- name: ScanFinish :exec
UPDATE scans SET finished_at = now() WHERE id = $1;
