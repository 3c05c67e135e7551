-- name: BuildNames :many
-- A name for each of the image manifests digests, as people know a base
-- build: the repository and tag whose push last named it (or an index
-- holding it), else a repository holding it ('' tag).
SELECT d.digest::text AS digest, coalesce(bt.repository, bh.repository, '')::text AS repository, coalesce(bt.tag, '')::text AS tag
FROM unnest(sqlc.arg(digests)::text[]) AS d(digest)
LEFT JOIN LATERAL (
    SELECT br.name AS repository, e.tag
    FROM tag_events e JOIN repositories br ON br.id = e.repository_id
    WHERE e.action = 'push'
      AND e.manifest_digest = ANY (ARRAY(SELECT d.digest UNION ALL SELECT c.index_digest FROM index_children c WHERE c.child_digest = d.digest))
    ORDER BY e.occurred_at DESC, e.id DESC
    LIMIT 1
) bt ON true
LEFT JOIN LATERAL (
    SELECT br.name AS repository FROM repository_manifests rm JOIN repositories br ON br.id = rm.repository_id
    WHERE rm.manifest_digest = d.digest
    ORDER BY rm.deleted_at IS NOT NULL, br.name
    LIMIT 1
) bh ON bt.repository IS NULL;
