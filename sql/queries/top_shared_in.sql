-- name: TopSharedIn :many
-- Top-shared over the repositories matching repository (a regexp) from the
-- kept per-repository counts (repository_contents, repository_blobs) rather
-- than every matching image's layers: the limit contents held by at least
-- min_images of their live images, ranked by sort_by (images or
-- repositories), with the encodings those images use, the step that made
-- each and the first repositories holding it. The sums are exact when no
-- live manifest is in two of the repositories (top_shared_in_exact.sql);
-- the report counts afresh otherwise, and for the rankings by bytes.
WITH repos AS MATERIALIZED (
    SELECT id, name FROM repositories WHERE name ~ sqlc.arg(repository)::text
),
per AS (
    SELECT rc.content, sum(rc.images)::bigint AS images, count(*)::bigint AS repositories
    FROM repos r JOIN repository_contents rc ON rc.repository_id = r.id
    WHERE rc.images > 0
    GROUP BY rc.content
    HAVING sum(rc.images) >= sqlc.arg(min_images)::bigint
),
top AS (
    -- The ranking's ties at the cut are kept: stored bytes break them.
    SELECT content, images, repositories FROM per
    ORDER BY CASE WHEN sqlc.arg(sort_by)::text = 'repositories' THEN repositories ELSE images END DESC, images DESC, repositories DESC
    FETCH FIRST (sqlc.arg('limit')::bigint) ROWS WITH TIES
),
enc AS MATERIALIZED (
    -- A content with one live encoding (content_usage.encodings) has all
    -- its images on that blob; another's images are summed per blob.
    SELECT t.content, b.digest, b.size, b.media_type,
        CASE WHEN NOT EXISTS (SELECT 1 FROM blob_usage u WHERE u.digest = b.digest AND u.manifests > 0) THEN 0
             WHEN (SELECT cu.encodings FROM content_usage cu WHERE cu.content = t.content) <= 1 THEN t.images
             ELSE (SELECT coalesce(sum(rb.image_refs), 0) FROM repos r JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.digest = b.digest)
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
    -- The first five matching repositories by name holding it, probed
    -- per matching repository (a base layer's holders are thousands).
    ARRAY(SELECT DISTINCT p.name FROM repos p
          WHERE (SELECT rc.images > 0 FROM repository_contents rc WHERE rc.repository_id = p.id AND rc.content = r.content)
          ORDER BY 1 LIMIT 5)::text[] AS sample_repositories
FROM ranked r
ORDER BY CASE WHEN sqlc.arg(sort_by)::text = 'repositories' THEN r.repositories ELSE r.images END DESC,
    r.images DESC, r.repositories DESC, r.stored_bytes DESC, r.content
LIMIT sqlc.arg('limit')::bigint;

-- name: TopSharedInExact :one
-- Whether top_shared_in.sql's sums are exact over the repositories matching
-- repository (a regexp): no live manifest is in two of them. (From the
-- repositories: grouping every membership by digest walked them all.)
WITH repos AS MATERIALIZED (
    SELECT id FROM repositories WHERE name ~ sqlc.arg(repository)::text
)
SELECT count(*) = count(DISTINCT rm.manifest_digest) AS exact
FROM repos r JOIN repository_manifests rm ON rm.repository_id = r.id
WHERE rm.deleted_at IS NULL;
