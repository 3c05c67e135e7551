-- name: ScanBegin :one
-- Resume the newest unfinished scan of this registry and glob, or start one.
WITH open AS (
    SELECT id FROM scans
    WHERE registry = $1::text AND repo_glob = $2::text AND finished_at IS NULL
    ORDER BY id DESC LIMIT 1
),
started AS (
    INSERT INTO scans (registry, repo_glob)
    SELECT $1::text, $2::text WHERE NOT EXISTS (SELECT 1 FROM open)
    RETURNING id
)
SELECT id, false AS resumed FROM started
UNION ALL
SELECT id, true FROM open;
