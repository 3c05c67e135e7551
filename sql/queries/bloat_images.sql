-- Live image manifests (index children included) in repositories matching
-- $1, each with the first live tag that names it or an index holding it.
-- $2: only these manifest digests (NULL: all); $3: only this registry ('').
SELECT r.registry, r.name, r.id, m.digest, coalesce(m.os, ''), coalesce(m.architecture, ''), coalesce(m.variant, ''),
    coalesce((SELECT min(t.name) FROM tags t
              WHERE t.repository_id = r.id AND t.deleted_at IS NULL
                AND (t.manifest_digest = m.digest
                     OR t.manifest_digest IN (SELECT ic.index_digest FROM index_children ic WHERE ic.child_digest = m.digest))), '') AS tag
FROM repository_manifests rm
JOIN repositories r ON r.id = rm.repository_id
JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
WHERE rm.deleted_at IS NULL AND r.name ~ $1
  AND ($2::text[] IS NULL OR m.digest = ANY ($2)) AND ($3 = '' OR r.registry = $3)
ORDER BY r.registry, r.name, tag, m.digest
