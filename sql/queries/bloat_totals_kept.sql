-- name: BloatTotalsKept :one
-- bloat_totals.sql at the report's defaults (no --min-bytes, --small-layer
-- 1MiB, no --max-layers, no gate), over the repositories matching
-- repository (a regexp) of registry (empty: all), from the totals the fold
-- keeps per repository (repository_bloat); and how many repositories
-- that is.
SELECT count(*) AS repositories, coalesce(sum(b.analyzed), 0)::bigint AS analyzed, coalesce(sum(b.images - b.analyzed), 0)::bigint AS left_out,
    coalesce(sum(b.waiting), 0)::bigint AS waiting, coalesce(sum(b.refused), 0)::bigint AS refused,
    coalesce(sum(b.shown), 0)::bigint AS shown, coalesce(sum(b.wasted_bytes), 0)::bigint AS wasted_bytes,
    coalesce(sum(b.wasted_compressed_bytes), 0)::bigint AS wasted_compressed_bytes
FROM repository_bloat b
JOIN repositories r ON r.id = b.repository_id
WHERE r.name ~ sqlc.arg(repository)::text
  AND (sqlc.arg(registry)::text = '' OR r.registry = sqlc.arg(registry));
