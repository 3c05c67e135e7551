-- name: BloatLeftOut :many
-- A page of the images the bloat report cannot judge (as bloat_totals.sql
-- selects them): a layer not indexed yet or refused, or not analyzed yet;
-- by repository and digest, offset and limit (NULL: all) saying which. Each
-- with its first live tag (as bloat_images.sql), its platform as its
-- config says, its layers, and how many are not indexed yet.
WITH left_out AS (
    SELECT r.registry, r.name AS repository, r.id AS repository_id, m.digest, m.os, m.architecture, m.variant,
        m.layer_count, s.unindexed, s.rejected
    FROM repository_manifests rm
    JOIN repositories r ON r.id = rm.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    JOIN image_index_state s ON s.manifest_digest = m.digest
    WHERE rm.deleted_at IS NULL AND r.name ~ sqlc.arg(repository)::text
      AND (sqlc.narg(digests)::text[] IS NULL OR m.digest = ANY (sqlc.narg(digests)))
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
      AND (s.unindexed > 0 OR s.rejected > 0
           OR NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = m.digest))
    ORDER BY r.name, m.digest, r.registry
    OFFSET sqlc.arg('offset')::bigint
    LIMIT sqlc.narg('limit')::bigint
)
SELECT x.registry, x.repository, x.digest,
    coalesce((SELECT nullif(concat_ws('/', nullif(ic.os, ''), nullif(ic.architecture, ''), nullif(ic.variant, '')), '')
              FROM index_children ic
              JOIN repository_manifests irm ON irm.manifest_digest = ic.index_digest AND irm.repository_id = x.repository_id AND irm.deleted_at IS NULL
              WHERE ic.child_digest = x.digest
              ORDER BY ic.index_digest, ic.position LIMIT 1),
             concat_ws('/', nullif(x.os, ''), nullif(x.architecture, ''), nullif(x.variant, '')))::text AS platform,
    coalesce((SELECT min(t.name) FROM tags t
              WHERE t.repository_id = x.repository_id AND t.deleted_at IS NULL
                AND (t.manifest_digest = x.digest
                     OR t.manifest_digest IN (SELECT ic.index_digest FROM index_children ic WHERE ic.child_digest = x.digest))), '')::text AS tag,
    x.layer_count, x.unindexed, x.rejected
FROM left_out x
ORDER BY x.repository, x.digest, x.registry;
