-- name: AlertGrowth :many
-- The comparisons in (after, upto] of recent pushes, in the streams the
-- growth report compares, that grew by more than over_bytes compressed
-- bytes (-1: any growth) and by more than over_percent of the earlier push
-- (-1: any growth); the columns of GrowthPushes, and what makes the
-- alert's key. A tag's push is recent when it happened at or after since;
-- a build in created order when layerq first saw it at or after since, it
-- was built at most window_seconds before that, and the build before it
-- was seen earlier (a fresh build pushed after it, not an old one a scan
-- came upon, nor one of builds a scan took in together: a build stamped
-- with a fixed date is dated and ordered by when it was first seen, which
-- says nothing of their order).
SELECT t.id, r.registry, r.name AS repository, t.stream_kind, t.stream, t.platform, t.from_digest, t.to_digest, t.occurred_at,
    t.from_bytes, t.total_bytes AS to_bytes, t.base_moved, coalesce(t.base_from, '')::text AS base_from, coalesce(t.base_to, '')::text AS base_to,
    t.repository_id, coalesce(t.tag_event_id, 0)::bigint AS tag_event_id
FROM cache_transitions t
JOIN repositories r ON r.id = t.repository_id
WHERE t.id > sqlc.arg(after)::bigint AND t.id <= sqlc.arg(upto)::bigint
  AND CASE WHEN t.stream_kind = 'tag' THEN t.occurred_at >= sqlc.arg(since)::timestamptz
           ELSE EXISTS (SELECT 1 FROM repository_manifests rm
                        WHERE rm.repository_id = t.repository_id AND rm.manifest_digest = t.to_digest
                          AND rm.first_seen >= sqlc.arg(since)::timestamptz
                          AND t.occurred_at >= rm.first_seen - make_interval(secs => sqlc.arg(window_seconds)::float8)
                          AND EXISTS (SELECT 1 FROM repository_manifests fm
                                      WHERE fm.repository_id = t.repository_id AND fm.manifest_digest = t.from_digest
                                        AND fm.first_seen < rm.first_seen)) END
  AND t.total_bytes > t.from_bytes
  AND t.total_bytes - t.from_bytes > sqlc.arg(over_bytes)::bigint
  AND (sqlc.arg(over_percent)::float8 < 0
       OR (t.total_bytes - t.from_bytes)::float8 * 100 > sqlc.arg(over_percent)::float8 * t.from_bytes)
  AND t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = t.repository_id)
                           THEN 'tag' ELSE 'created' END
ORDER BY t.id;
