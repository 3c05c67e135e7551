-- name: DuplicatesLayer :many
-- Pairs of different layers of live images in repositories matching
-- repository (a regexp) whose regular files match: same path, same content.
-- A rebuild that changed only mtimes, or a few files, gives a new digest
-- for the same bytes. Two blobs the configs give the same diff_id (one tar,
-- compressed twice) are blob duplicates, not listed here. similarity is
-- shared file bytes over the pair's union (by file count when both hold
-- only empty files); bytes_saved is what storing the shared files once
-- would save. Each side of a pair comes with its files, their bytes, and
-- the first repository by name holding it with the step that made it.
-- min_similarity: the least similarity (0..1); limit: how many pairs.
WITH live AS (
    SELECT DISTINCT blob_digest FROM live_layers WHERE repository ~ sqlc.arg(repository)::text AND diff_id IS NOT NULL
),
f AS (
    -- Each (path, content) once per layer (a tar may hold a path twice);
    -- empty files say nothing about similarity and are the most common.
    SELECT DISTINCT lf.blob_digest, lf.path, lf.digest, lf.size
    FROM layer_files lf
    JOIN live USING (blob_digest)
    WHERE lf.type = 1 AND lf.size > 0
),
shared AS (
    SELECT a.blob_digest AS a, b.blob_digest AS b, sum(a.size)::bigint AS bytes, count(*) AS files
    FROM f a
    JOIN f b ON b.path = a.path AND b.digest = a.digest AND a.blob_digest < b.blob_digest
    GROUP BY a.blob_digest, b.blob_digest
),
scored AS (
    SELECT s.a, s.b, s.bytes, s.files, la.files AS a_files, lb.files AS b_files, la.file_bytes AS a_bytes, lb.file_bytes AS b_bytes,
        CASE WHEN la.file_bytes + lb.file_bytes - s.bytes > 0
            THEN s.bytes::float8 / (la.file_bytes + lb.file_bytes - s.bytes)
            ELSE s.files::float8 / nullif(la.files + lb.files - s.files, 0)
        END AS similarity
    FROM shared s
    JOIN layer_indexes la ON la.blob_digest = s.a
    JOIN layer_indexes lb ON lb.blob_digest = s.b
    WHERE la.diff_id IS DISTINCT FROM lb.diff_id OR la.diff_id IS NULL
)
SELECT s.a AS layer_a, s.a_files AS files_a, s.a_bytes AS file_bytes_a,
    s.b AS layer_b, s.b_files AS files_b, s.b_bytes AS file_bytes_b,
    s.files AS shared_files, s.bytes AS bytes_saved, s.similarity::double precision AS similarity,
    coalesce(ua.name, '') AS repository_a, coalesce(ua.created_by, '') AS created_by_a,
    coalesce(ub.name, '') AS repository_b, coalesce(ub.created_by, '') AS created_by_b
FROM scored s
LEFT JOIN LATERAL (
    SELECT ll.repository AS name, ml.created_by FROM live_layers ll
    JOIN manifest_layers ml ON ml.manifest_digest = ll.manifest_digest AND ml.position = ll.position
    WHERE ll.blob_digest = s.a ORDER BY ll.repository, ll.manifest_digest, ll.position LIMIT 1) ua ON true
LEFT JOIN LATERAL (
    SELECT ll.repository AS name, ml.created_by FROM live_layers ll
    JOIN manifest_layers ml ON ml.manifest_digest = ll.manifest_digest AND ml.position = ll.position
    WHERE ll.blob_digest = s.b ORDER BY ll.repository, ll.manifest_digest, ll.position LIMIT 1) ub ON true
WHERE s.similarity >= sqlc.arg(min_similarity)::double precision
ORDER BY s.bytes DESC, s.similarity DESC, s.a, s.b
LIMIT sqlc.arg('limit')::bigint;
