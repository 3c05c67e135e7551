-- name: AlertBaseMoves :many
-- The tag moves in the comparisons (after, upto], made at or after since,
-- that moved a tag off a build other images are built on: per platform,
-- the old and the new build, with each repository holding live images on
-- the old one (base_repositories), most images first.
SELECT t.tag_event_id::bigint AS tag_event_id, rb.registry AS base_registry, rb.name AS base_repository, t.stream AS base_tag,
    coalesce(e.previous_digest, '')::text AS tag_from, coalesce(e.manifest_digest, '')::text AS tag_to, t.occurred_at,
    t.platform, t.from_digest, t.to_digest, r.registry, r.name AS repository, br.images::bigint AS images
FROM cache_transitions t
JOIN repositories rb ON rb.id = t.repository_id
JOIN tag_events e ON e.id = t.tag_event_id
JOIN base_repositories br ON br.base_digest = t.from_digest AND br.images > 0
JOIN repositories r ON r.id = br.repository_id
WHERE t.id > sqlc.arg(after)::bigint AND t.id <= sqlc.arg(upto)::bigint
  AND t.stream_kind = 'tag' AND t.occurred_at >= sqlc.arg(since)::timestamptz
ORDER BY t.tag_event_id, t.platform, br.images DESC, r.name, r.registry;
