-- name: ImageDeclaredPlatform :one
-- The platform the first index listing image digest declares for it, as
-- os/architecture[/variant]; no row when no index lists it.
SELECT (CASE WHEN coalesce(os, '') = '' AND coalesce(architecture, '') = '' THEN ''
    ELSE concat_ws('/', os, architecture, nullif(variant, '')) END)::text AS platform
FROM index_children WHERE child_digest = sqlc.arg(digest)
ORDER BY index_digest, position
LIMIT 1;
