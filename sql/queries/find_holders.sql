-- name: FindHolders :many
-- The live images (in repositories matching repository, a regexp; NULL for
-- all) whose layers include blobs, with each such layer's position and
-- step, by repository, image and position.
SELECT r.id AS repository_id, r.registry, r.name AS repository, m.digest, ml.position, ml.blob_digest,
    coalesce(ml.created_by, '')::text AS created_by
FROM manifest_layers ml
JOIN manifests m ON m.digest = ml.manifest_digest AND m.kind = 'image'
JOIN repository_manifests rm ON rm.manifest_digest = m.digest AND rm.deleted_at IS NULL
JOIN repositories r ON r.id = rm.repository_id
WHERE ml.blob_digest = ANY (sqlc.arg(blobs)::text[])
  AND (sqlc.narg(repository)::text IS NULL OR r.name ~ sqlc.narg(repository)::text)
ORDER BY r.registry, r.name, m.digest, ml.position;

-- name: FindImageNames :many
-- For each image of a repository, given as keys "REPOSITORY_ID DIGEST": the platform
-- (as an index of that repository declares it, else the image's config's)
-- and the live tags (on the image, or on an index holding it).
SELECT u.repository_id::bigint AS repository_id, u.digest::text AS digest,
    coalesce((SELECT layerq_platform(c.os, c.architecture, c.variant) FROM index_children c
              JOIN repository_manifests ri ON ri.manifest_digest = c.index_digest AND ri.repository_id = u.repository_id AND ri.deleted_at IS NULL
              WHERE c.child_digest = u.digest LIMIT 1),
             layerq_platform(m.os, m.architecture, m.variant), '')::text AS platform,
    (SELECT coalesce(array_agg(DISTINCT t.name ORDER BY t.name), '{}') FROM tags t
     WHERE t.repository_id = u.repository_id AND t.deleted_at IS NULL
       AND (t.manifest_digest = u.digest
            OR t.manifest_digest IN (SELECT c.index_digest FROM index_children c WHERE c.child_digest = u.digest)))::text[] AS tags
FROM (SELECT split_part(k, ' ', 1)::bigint AS repository_id, split_part(k, ' ', 2) AS digest
      FROM unnest(sqlc.arg(keys)::text[]) AS k) u
JOIN manifests m ON m.digest = u.digest;
