-- name: TopSharedKept :many
-- Top-shared over the whole graph, from the kept per-content counts
-- (content_usage): the limit layer contents held by at least min_images
-- live images, ranked by sort_by (images, repositories, saved or stored),
-- each with its encodings (blob, size, media type, live images using it),
-- the step that made it and a few repositories holding it. Each ranking
-- reads its own index; the report orders the rows (the ranking's keys are
-- in them).
WITH top AS (
    (SELECT content FROM content_usage WHERE sqlc.arg(sort_by)::text = 'images' AND images > 1 AND images >= sqlc.arg(min_images)::integer
     ORDER BY images DESC, repositories DESC, stored_bytes DESC, content LIMIT sqlc.arg('limit')::bigint)
    UNION ALL
    (SELECT content FROM content_usage WHERE sqlc.arg(sort_by)::text = 'repositories' AND images > 1 AND images >= sqlc.arg(min_images)::integer
     ORDER BY repositories DESC, images DESC, stored_bytes DESC, content LIMIT sqlc.arg('limit')::bigint)
    UNION ALL
    (SELECT content FROM content_usage WHERE sqlc.arg(sort_by)::text = 'saved' AND images > 1 AND images >= sqlc.arg(min_images)::integer
     ORDER BY saved_bytes DESC, images DESC, repositories DESC, stored_bytes DESC, content LIMIT sqlc.arg('limit')::bigint)
    UNION ALL
    (SELECT content FROM content_usage WHERE sqlc.arg(sort_by)::text = 'stored' AND images > 1 AND images >= sqlc.arg(min_images)::integer
     ORDER BY stored_bytes DESC, images DESC, repositories DESC, content LIMIT sqlc.arg('limit')::bigint)
    UNION ALL
    -- Unshared contents too (--min-images 1): no index serves these.
    (SELECT content FROM content_usage WHERE sqlc.arg(min_images)::integer <= 1 AND images > 0
     ORDER BY CASE sqlc.arg(sort_by)::text WHEN 'repositories' THEN repositories WHEN 'saved' THEN saved_bytes WHEN 'stored' THEN stored_bytes ELSE images END DESC,
         images DESC, repositories DESC, stored_bytes DESC, content LIMIT sqlc.arg('limit')::bigint)
)
SELECT s.content, s.images::bigint AS images, s.repositories::bigint AS repositories, s.stored_bytes, s.saved_bytes,
    e.digests::text[] AS digests, e.sizes::bigint[] AS sizes, e.media_types::text[] AS media_types,
    e.images::bigint[] AS encoding_images,
    layerq_first_step(e.digests) AS created_by,
    -- The first five repositories by name that hold it: a content held by
    -- many walks the repositories in name order until five hold it (a
    -- subquery in WHERE, so the planner keeps the walk); one held by few
    -- reads its holders and sorts them.
    CASE WHEN s.repositories > 100 THEN
        ARRAY(SELECT r.name FROM repositories r
              WHERE (SELECT rc.images > 0 FROM repository_contents rc WHERE rc.repository_id = r.id AND rc.content = s.content)
              GROUP BY r.name ORDER BY r.name LIMIT 5)
    ELSE
        ARRAY(SELECT r.name FROM repository_contents rc JOIN repositories r ON r.id = rc.repository_id
              WHERE rc.content = s.content AND rc.images > 0
              GROUP BY r.name ORDER BY r.name LIMIT 5)
    END::text[] AS sample_repositories
FROM (SELECT DISTINCT content FROM top) t
JOIN content_usage s ON s.content = t.content
CROSS JOIN LATERAL (
    SELECT array_agg(b.digest ORDER BY b.size, b.digest) AS digests,
        array_agg(b.size ORDER BY b.size, b.digest) AS sizes,
        array_agg(b.media_type ORDER BY b.size, b.digest) AS media_types,
        array_agg(u.manifests::bigint ORDER BY b.size, b.digest) AS images
    FROM (SELECT digest, size, media_type FROM blobs WHERE diff_id = s.content
          UNION ALL
          SELECT digest, size, media_type FROM blobs WHERE digest = s.content AND diff_id IS NULL) b
    JOIN blob_usage u ON u.digest = b.digest
    WHERE u.manifests > 0
) e;
