-- name: TopShared :many
-- Layer contents ranked by the live image manifests in repositories
-- matching repository (a regexp) that hold them, counted afresh: the limit
-- contents held by at least min_images of those images, ranked by sort_by
-- (images, repositories, saved or stored), with their encodings as those
-- images use them.
WITH live AS (
    SELECT DISTINCT rm.manifest_digest, r.id AS repository_id, r.name AS repository
    FROM repository_manifests rm
    JOIN repositories r ON r.id = rm.repository_id
    JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
    WHERE rm.deleted_at IS NULL AND r.name ~ sqlc.arg(repository)::text
),
uses AS (
    SELECT layerq_content(b.diff_id, b.digest) AS content, b.digest, b.size, b.media_type,
        l.manifest_digest, l.repository_id, l.repository
    FROM manifest_layers ml
    JOIN live l ON l.manifest_digest = ml.manifest_digest
    JOIN blobs b ON b.digest = ml.blob_digest
),
contents AS (
    SELECT content, count(DISTINCT manifest_digest) AS images, count(DISTINCT repository_id) AS repositories,
        (array_agg(DISTINCT repository ORDER BY repository))[1:5] AS sample_repositories
    FROM uses GROUP BY 1
    HAVING count(DISTINCT manifest_digest) >= sqlc.arg(min_images)::bigint
),
encodings AS (
    SELECT content, digest, size, media_type, count(DISTINCT manifest_digest) AS images
    FROM uses WHERE content IN (SELECT content FROM contents)
    GROUP BY 1, 2, 3, 4
),
ranked AS (
    SELECT c.content, c.images, c.repositories, sum(e.size)::bigint AS stored_bytes,
        sum(e.size * (e.images - 1))::bigint AS saved_bytes,
        array_agg(e.digest ORDER BY e.size, e.digest) AS digests,
        array_agg(e.size ORDER BY e.size, e.digest) AS sizes,
        array_agg(e.media_type ORDER BY e.size, e.digest) AS media_types,
        array_agg(e.images ORDER BY e.size, e.digest) AS encoding_images,
        c.sample_repositories
    FROM contents c JOIN encodings e USING (content)
    GROUP BY c.content, c.images, c.repositories, c.sample_repositories
)
SELECT r.content, r.images, r.repositories, r.stored_bytes, r.saved_bytes,
    r.digests::text[] AS digests, r.sizes::bigint[] AS sizes, r.media_types::text[] AS media_types,
    r.encoding_images::bigint[] AS encoding_images,
    layerq_first_step(r.digests) AS created_by,
    r.sample_repositories::text[] AS sample_repositories
FROM ranked r
ORDER BY CASE sqlc.arg(sort_by)::text WHEN 'repositories' THEN r.repositories WHEN 'saved' THEN r.saved_bytes WHEN 'stored' THEN r.stored_bytes ELSE r.images END DESC,
    r.images DESC, r.repositories DESC, r.stored_bytes DESC, r.content
LIMIT sqlc.arg('limit')::bigint;
