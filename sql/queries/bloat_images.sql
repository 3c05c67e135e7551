-- name: BloatImages :many
-- A page of the images the bloat report shows (as bloat_totals.sql selects
-- them: repository a regexp, registry empty for all, digests NULL for all),
-- most bytes wasted first, then by repository and digest; offset and
-- limit (NULL: all) say which. Each with the first live tag that names it
-- or an index holding it; its platform as an index of the repository
-- declares it for a child (else as its config says; empty when neither
-- says), and its config's; its base as image_bases holds it, which the
-- image report shows too: how many of its layers are the base's, and the
-- base's name (as image_base.sql names it); and what image_waste and
-- image_waste_pairs keep of it. ranked (for a selection of a few
-- repositories, at the report's defaults): the page is the first rows of
-- each selected repository's images by wasted bytes as the fold keeps
-- them (repository_waste), not a walk of every analyzed image of the
-- registry by waste until enough of them are found in the selection.
WITH walked AS (
    SELECT r.registry, r.name AS repository, r.id AS repository_id, m.digest, m.os, m.architecture, m.variant,
        coalesce(ib.base_layers, 0) AS base_layers, coalesce(ib.base_digest, '') AS base_digest,
        w.wasted_bytes, w.wasted_compressed_bytes, w.final_files, w.final_bytes
    FROM repository_manifests rm
    JOIN repositories r ON r.id = rm.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    JOIN image_index_state s ON s.manifest_digest = m.digest AND s.unindexed = 0 AND s.rejected = 0
    JOIN image_waste w ON w.manifest_digest = m.digest
    LEFT JOIN image_bases ib ON ib.manifest_digest = m.digest
    WHERE NOT sqlc.arg(ranked)::boolean AND rm.deleted_at IS NULL AND r.name ~ sqlc.arg(repository)::text
      AND (sqlc.narg(digests)::text[] IS NULL OR m.digest = ANY (sqlc.narg(digests)))
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
      AND ((w.wasted_bytes > 0 AND w.wasted_bytes >= sqlc.arg(min_bytes)::bigint)
           OR layerq_has_layer_run(s.run_sizes, coalesce(ib.base_layers, 0), sqlc.arg(small_layer)::bigint)
           OR (sqlc.arg(max_layers)::integer > 0 AND m.layer_count > sqlc.arg(max_layers)))
    ORDER BY w.wasted_bytes DESC, r.name, m.digest, r.registry
    OFFSET sqlc.arg('offset')::bigint
    LIMIT sqlc.narg('limit')::bigint
),
page AS (
    SELECT r.registry, r.name AS repository, r.id AS repository_id, p.manifest_digest AS digest, p.wasted_bytes
    FROM repositories r
    CROSS JOIN LATERAL (
        SELECT rw.manifest_digest, rw.wasted_bytes
        FROM repository_waste rw
        WHERE rw.repository_id = r.id
        ORDER BY rw.wasted_bytes DESC, rw.manifest_digest
        LIMIT sqlc.arg('offset')::bigint + sqlc.narg('limit')::bigint
    ) p
    WHERE sqlc.arg(ranked)::boolean AND r.name ~ sqlc.arg(repository)::text
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
    ORDER BY p.wasted_bytes DESC, r.name, p.manifest_digest, r.registry
    OFFSET sqlc.arg('offset')::bigint
    LIMIT sqlc.narg('limit')::bigint
),
shown AS (
    SELECT * FROM walked
    UNION ALL
    SELECT p.registry, p.repository, p.repository_id, p.digest, m.os, m.architecture, m.variant,
        coalesce(ib.base_layers, 0), coalesce(ib.base_digest, ''),
        w.wasted_bytes, w.wasted_compressed_bytes, w.final_files, w.final_bytes
    FROM page p
    JOIN manifests m ON m.digest = p.digest
    JOIN image_waste w ON w.manifest_digest = p.digest
    LEFT JOIN image_bases ib ON ib.manifest_digest = p.digest
)
SELECT x.registry, x.repository, x.repository_id, x.digest,
    coalesce((SELECT nullif(concat_ws('/', nullif(ic.os, ''), nullif(ic.architecture, ''), nullif(ic.variant, '')), '')
              FROM index_children ic
              JOIN repository_manifests irm ON irm.manifest_digest = ic.index_digest AND irm.repository_id = x.repository_id AND irm.deleted_at IS NULL
              WHERE ic.child_digest = x.digest
              ORDER BY ic.index_digest, ic.position LIMIT 1),
             concat_ws('/', nullif(x.os, ''), nullif(x.architecture, ''), nullif(x.variant, '')))::text AS platform,
    concat_ws('/', nullif(x.os, ''), nullif(x.architecture, ''), nullif(x.variant, '')) AS config_platform,
    coalesce((SELECT min(t.name) FROM tags t
              WHERE t.repository_id = x.repository_id AND t.deleted_at IS NULL
                AND (t.manifest_digest = x.digest
                     OR t.manifest_digest IN (SELECT ic.index_digest FROM index_children ic WHERE ic.child_digest = x.digest))), '')::text AS tag,
    x.base_layers, x.base_digest, coalesce(br.name, '') AS base_repository, coalesce(bb.base_tag, '') AS base_tag,
    x.wasted_bytes, x.wasted_compressed_bytes, x.final_files, x.final_bytes, coalesce(p.pairs, '[]') AS pairs
FROM shown x
LEFT JOIN image_waste_pairs p ON p.manifest_digest = x.digest
LEFT JOIN base_builds bb ON bb.base_digest = x.base_digest
LEFT JOIN repositories br ON br.id = bb.base_repository_id
ORDER BY x.wasted_bytes DESC, x.repository, x.digest, x.registry;
