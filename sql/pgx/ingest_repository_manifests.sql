-- Which repository holds which manifest, sorted by (registry, name, digest),
-- with when it was observed. Observed again after a delete, it comes back; an
-- observation older than the delete does not undo it.
INSERT INTO repository_manifests AS rm (repository_id, manifest_digest, observed_at)
SELECT r.id, t.digest, t.observed_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(registry, name, digest, observed_at)
JOIN repositories r ON r.registry = t.registry AND r.name = t.name
ORDER BY r.id, t.digest
ON CONFLICT (repository_id, manifest_digest) DO UPDATE
SET observed_at = greatest(rm.observed_at, excluded.observed_at),
    deleted_at = CASE WHEN rm.deleted_at < excluded.observed_at THEN NULL ELSE rm.deleted_at END
WHERE excluded.observed_at > rm.observed_at
