-- name: BloatImages :many
-- Live image manifests (index children included) in repositories matching
-- repository (a regexp), each with the first live tag that names it or an
-- index holding it; its platform as an index of the repository declares it
-- for a child (else as its config says; empty when neither says), and its
-- config's; and its base as image_bases holds it, which the image report
-- shows too: how many of its layers are the base's, and the base's name (as
-- image_base.sql names it). digests: only these manifests (NULL: all);
-- registry: only this registry (empty: all).
SELECT r.registry, r.name AS repository, r.id AS repository_id, m.digest,
    coalesce((SELECT nullif(concat_ws('/', nullif(ic.os, ''), nullif(ic.architecture, ''), nullif(ic.variant, '')), '')
              FROM index_children ic
              JOIN repository_manifests irm ON irm.manifest_digest = ic.index_digest AND irm.repository_id = r.id AND irm.deleted_at IS NULL
              WHERE ic.child_digest = m.digest
              ORDER BY ic.index_digest, ic.position LIMIT 1),
             concat_ws('/', nullif(m.os, ''), nullif(m.architecture, ''), nullif(m.variant, '')))::text AS platform,
    concat_ws('/', nullif(m.os, ''), nullif(m.architecture, ''), nullif(m.variant, '')) AS config_platform,
    coalesce((SELECT min(t.name) FROM tags t
              WHERE t.repository_id = r.id AND t.deleted_at IS NULL
                AND (t.manifest_digest = m.digest
                     OR t.manifest_digest IN (SELECT ic.index_digest FROM index_children ic WHERE ic.child_digest = m.digest))), '')::text AS tag,
    coalesce(ib.base_layers, 0) AS base_layers, coalesce(ib.base_digest, '') AS base_digest,
    coalesce(br.name, '') AS base_repository, coalesce(bb.base_tag, '') AS base_tag
FROM repository_manifests rm
JOIN repositories r ON r.id = rm.repository_id
JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
LEFT JOIN image_bases ib ON ib.manifest_digest = m.digest
LEFT JOIN base_builds bb ON bb.base_digest = ib.base_digest
LEFT JOIN repositories br ON br.id = bb.base_repository_id
WHERE rm.deleted_at IS NULL AND r.name ~ sqlc.arg(repository)::text
  AND (sqlc.narg(digests)::text[] IS NULL OR m.digest = ANY (sqlc.narg(digests)))
  AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
ORDER BY r.registry, r.name, tag, m.digest;
