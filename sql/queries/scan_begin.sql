-- name: ScanBegin :one
-- Resume the newest unfinished scan of this registry and glob (repo_glob),
-- or start one; resumed says which.
WITH open AS (
    SELECT id FROM scans
    WHERE registry = @registry::text AND repo_glob = @repo_glob::text AND finished_at IS NULL
    ORDER BY id DESC LIMIT 1
),
started AS (
    INSERT INTO scans (registry, repo_glob)
    SELECT @registry::text, @repo_glob::text WHERE NOT EXISTS (SELECT 1 FROM open)
    RETURNING id
)
SELECT id, false AS resumed FROM started
UNION ALL
SELECT id, true FROM open;
