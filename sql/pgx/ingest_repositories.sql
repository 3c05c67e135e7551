-- Repositories named by a batch: $1 registries, $2 names (sorted).
INSERT INTO repositories (registry, name)
SELECT registry, name FROM unnest($1::text[], $2::text[]) AS t(registry, name)
ON CONFLICT (registry, name) DO NOTHING
