-- Which repository holds which manifest, sorted by (registry, name, digest).
-- Seeing a manifest again after its deletion brings it back.
INSERT INTO repository_manifests (repository_id, manifest_digest)
SELECT r.id, t.digest
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(registry, name, digest)
JOIN repositories r ON r.registry = t.registry AND r.name = t.name
ORDER BY r.id, t.digest
ON CONFLICT (repository_id, manifest_digest) DO UPDATE SET deleted_at = NULL
WHERE repository_manifests.deleted_at IS NOT NULL
