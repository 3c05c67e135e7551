-- name: BloatLeftOut :many
-- A page of the images the bloat report cannot judge (as bloat_totals.sql
-- selects them): a layer not indexed yet or refused, or not analyzed yet;
-- by repository and digest, offset and limit (NULL: all) saying which. Each
-- with its first live tag (as bloat_images.sql), its platform as its
-- config says, its layers, and how many are not indexed yet. Read from the
-- images left out (few, once the layers are indexed), or with walk from
-- the selected images in order (when many of them are left out).
WITH candidates AS (
    -- Images with a layer not indexed or refused, and those waiting for the
    -- analysis (the fold queues every image it finds ready): small sets,
    -- read from their indexes.
    SELECT s.manifest_digest FROM image_index_state s WHERE s.unindexed > 0 OR s.rejected > 0
    UNION
    SELECT p.manifest_digest FROM waste_pending p
    WHERE NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = p.manifest_digest)
),
left_out AS (
    (SELECT r.registry, r.name AS repository, r.id AS repository_id, m.digest, m.os, m.architecture, m.variant,
        m.layer_count, s.unindexed, s.rejected
    FROM candidates c
    JOIN image_index_state s ON s.manifest_digest = c.manifest_digest
    JOIN manifests m ON m.digest = c.manifest_digest AND m.kind = 'image'
    JOIN repository_manifests rm ON rm.manifest_digest = m.digest AND rm.deleted_at IS NULL
    JOIN repositories r ON r.id = rm.repository_id
    WHERE NOT sqlc.arg(walk)::boolean
      AND r.name ~ sqlc.arg(repository)::text
      AND (sqlc.narg(digests)::text[] IS NULL OR m.digest = ANY (sqlc.narg(digests)))
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
      AND (s.unindexed > 0 OR s.rejected > 0
           OR NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = m.digest))
    ORDER BY r.name, m.digest, r.registry
    OFFSET sqlc.arg('offset')::bigint
    LIMIT sqlc.narg('limit')::bigint)
    UNION ALL
    -- walk: when many of the selected images are left out (a registry
    -- whose layers are not indexed yet), the selected images in order,
    -- repositories by name and each one's memberships by digest, until
    -- the page is full.
    (SELECT r.registry, r.name AS repository, r.id AS repository_id, m.digest, m.os, m.architecture, m.variant,
        m.layer_count, s.unindexed, s.rejected
    FROM repositories r
    JOIN repository_manifests rm ON rm.repository_id = r.id AND rm.deleted_at IS NULL
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    JOIN image_index_state s ON s.manifest_digest = rm.manifest_digest
    WHERE sqlc.arg(walk)::boolean
      AND r.name ~ sqlc.arg(repository)::text
      AND (sqlc.narg(digests)::text[] IS NULL OR rm.manifest_digest = ANY (sqlc.narg(digests)))
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
      AND (s.unindexed > 0 OR s.rejected > 0
           OR (EXISTS (SELECT 1 FROM waste_pending p WHERE p.manifest_digest = rm.manifest_digest)
               AND NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = rm.manifest_digest)))
    ORDER BY r.name, rm.manifest_digest, r.registry
    OFFSET sqlc.arg('offset')::bigint
    LIMIT sqlc.narg('limit')::bigint)
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
