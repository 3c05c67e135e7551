-- name: BloatTotals :one
-- The bloat report's figures over every live image manifest (index
-- children included) in repositories matching repository (a regexp) of
-- registry (empty: all), digests only (NULL: all), one row per repository
-- holding it, whatever page of them is shown: images analyzed (their waste
-- kept), left out (a layer not indexed yet or refused, or not analyzed
-- yet), of those the ones waiting (for a layer to be indexed, or the
-- analysis) and the ones refused (an image may be both), those shown (wasting min_bytes or more, or with a run of small RUN
-- layers above their base, or over max_layers when positive) and the bytes
-- they waste; for CI gates, those shown wasting more than fail_over (when
-- not negative) and those over max_layers, analyzed or not.
SELECT count(*) FILTER (WHERE x.wasted_bytes IS NOT NULL) AS analyzed,
    count(*) FILTER (WHERE x.wasted_bytes IS NULL) AS left_out,
    count(*) FILTER (WHERE x.wasted_bytes IS NULL AND (x.unindexed > 0 OR x.rejected = 0)) AS waiting,
    count(*) FILTER (WHERE x.rejected > 0) AS refused,
    count(*) FILTER (WHERE x.shown) AS shown,
    coalesce(sum(x.wasted_bytes) FILTER (WHERE x.shown), 0)::bigint AS wasted_bytes,
    coalesce(sum(x.wasted_compressed_bytes) FILTER (WHERE x.shown), 0)::bigint AS wasted_compressed_bytes,
    count(*) FILTER (WHERE x.shown AND sqlc.arg(fail_over)::bigint >= 0 AND x.wasted_bytes > sqlc.arg(fail_over)) AS over_fail_over,
    count(*) FILTER (WHERE x.over_max_layers) AS over_max_layers
FROM (
    SELECT w.wasted_bytes, w.wasted_compressed_bytes, s.unindexed, s.rejected,
        sqlc.arg(max_layers)::integer > 0 AND m.layer_count > sqlc.arg(max_layers) AS over_max_layers,
        w.manifest_digest IS NOT NULL AND s.unindexed = 0 AND s.rejected = 0
            AND ((w.wasted_bytes > 0 AND w.wasted_bytes >= sqlc.arg(min_bytes)::bigint)
                 OR layerq_has_layer_run(s.run_sizes, coalesce(ib.base_layers, 0), sqlc.arg(small_layer)::bigint)
                 OR (sqlc.arg(max_layers) > 0 AND m.layer_count > sqlc.arg(max_layers))) AS shown
    FROM repository_manifests rm
    JOIN repositories r ON r.id = rm.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    JOIN image_index_state s ON s.manifest_digest = m.digest
    LEFT JOIN image_waste w ON w.manifest_digest = m.digest AND s.unindexed = 0 AND s.rejected = 0
    LEFT JOIN image_bases ib ON ib.manifest_digest = m.digest
    WHERE rm.deleted_at IS NULL AND r.name ~ sqlc.arg(repository)::text
      AND (sqlc.narg(digests)::text[] IS NULL OR m.digest = ANY (sqlc.narg(digests)))
      AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry))
) x;
