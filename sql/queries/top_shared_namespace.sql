-- name: TopSharedNamespace :many
-- top_shared_in.sql for a selection that is one namespace's repositories
-- (selection_namespace.sql): the namespace's sums are kept
-- (namespace_contents), so the ranking reads a page of the index of its
-- sort (images or repositories). Exact when no live manifest is in two of
-- its repositories (selection_namespace.sql's shared_manifests is 0), as
-- top_shared_in.sql.
WITH ordered AS MATERIALIZED (
    -- The namespace's repositories, in name order.
    SELECT array_agg(name ORDER BY name) AS names, array_agg(id ORDER BY name) AS ids FROM repositories
    WHERE registry = sqlc.arg(registry)::text AND layerq_namespace(name) = sqlc.arg(namespace)::text
),
top AS (
    -- The ranking's ties at the cut are kept: stored bytes break them.
    -- One branch runs, each reading its own index.
    (SELECT nc.content, nc.images::bigint AS images, nc.repositories::bigint AS repositories FROM namespace_contents nc
     WHERE sqlc.arg(sort_by)::text <> 'repositories'
       AND nc.registry = sqlc.arg(registry)::text AND nc.namespace = sqlc.arg(namespace)::text
       AND nc.images > 0 AND nc.images >= sqlc.arg(min_images)::integer
     ORDER BY nc.images DESC, nc.repositories DESC
     FETCH FIRST (sqlc.arg('limit')::bigint) ROWS WITH TIES)
    UNION ALL
    (SELECT nc.content, nc.images, nc.repositories FROM namespace_contents nc
     WHERE sqlc.arg(sort_by)::text = 'repositories'
       AND nc.registry = sqlc.arg(registry)::text AND nc.namespace = sqlc.arg(namespace)::text
       AND nc.images > 0 AND nc.images >= sqlc.arg(min_images)::integer
     ORDER BY nc.repositories DESC, nc.images DESC
     FETCH FIRST (sqlc.arg('limit')::bigint) ROWS WITH TIES)
),
enc AS MATERIALIZED (
    -- A content with one live encoding (content_usage.encodings) has all
    -- its images on that blob; another's, each blob's in the namespace.
    SELECT t.content, b.digest, b.size, b.media_type,
        CASE WHEN NOT EXISTS (SELECT 1 FROM blob_usage u WHERE u.digest = b.digest AND u.manifests > 0) THEN 0
             WHEN (SELECT cu.encodings FROM content_usage cu WHERE cu.content = t.content) <= 1 THEN t.images
             ELSE (SELECT nb.image_refs FROM namespace_blobs nb
                   WHERE nb.registry = sqlc.arg(registry)::text AND nb.namespace = sqlc.arg(namespace)::text AND nb.digest = b.digest)
        END::bigint AS images
    FROM top t
    CROSS JOIN LATERAL (SELECT digest, size, media_type FROM blobs WHERE diff_id = t.content
                        UNION ALL
                        SELECT digest, size, media_type FROM blobs WHERE digest = t.content AND diff_id IS NULL) b
),
ranked AS (
    SELECT t.content, t.images, t.repositories, sum(e.size)::bigint AS stored_bytes, sum(e.size * (e.images - 1))::bigint AS saved_bytes,
        array_agg(e.digest ORDER BY e.size, e.digest) AS digests,
        array_agg(e.size ORDER BY e.size, e.digest) AS sizes,
        array_agg(e.media_type ORDER BY e.size, e.digest) AS media_types,
        array_agg(e.images ORDER BY e.size, e.digest) AS encoding_images
    FROM top t JOIN enc e ON e.content = t.content AND e.images > 0
    GROUP BY t.content, t.images, t.repositories
)
SELECT r.content, r.images, r.repositories, r.stored_bytes, r.saved_bytes,
    r.digests::text[] AS digests, r.sizes::bigint[] AS sizes, r.media_types::text[] AS media_types,
    r.encoding_images::bigint[] AS encoding_images,
    layerq_first_step(r.digests) AS created_by,
    -- The first five of its repositories by name holding it: the
    -- repositories walked in name order until five hold it (a base layer
    -- is held by most; the planner knows the ordinality's order).
    ARRAY(SELECT ((SELECT names FROM ordered)::text[])[u.i] FROM unnest((SELECT ids FROM ordered)::bigint[]) WITH ORDINALITY AS u(id, i)
          WHERE (SELECT rc.images > 0 FROM repository_contents rc WHERE rc.repository_id = u.id AND rc.content = r.content)
          ORDER BY u.i LIMIT 5)::text[] AS sample_repositories
FROM ranked r
ORDER BY CASE WHEN sqlc.arg(sort_by)::text = 'repositories' THEN r.repositories ELSE r.images END DESC,
    r.images DESC, r.repositories DESC, r.stored_bytes DESC, r.content
LIMIT sqlc.arg('limit')::bigint;
