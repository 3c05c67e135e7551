-- The schema migrations the database records as applied: goose's version
-- table, where a version's latest row says whether it is applied. Run by
-- internal/migrate, which the sqlc generator's own test migrates with, so
-- it cannot use the generated code.
SELECT v.version_id
FROM (
    SELECT DISTINCT ON (version_id) version_id, is_applied
    FROM layerq_schema_migrations
    ORDER BY version_id, id DESC
) v
WHERE v.is_applied;
