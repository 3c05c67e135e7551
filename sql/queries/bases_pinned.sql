-- name: BasesPinned :many
-- Bytes that stale base builds keep stored, per base (registry, repository,
-- tag): the distinct layer blobs of its stale builds in use by live images
-- in repositories matching $1 (NULL for all) that the base's current build
-- lacks.
WITH b AS (
    SELECT rb.registry, rb.name, bb.base_tag, bb.base_digest, bb.current_digest
    FROM base_builds bb JOIN repositories rb ON rb.id = bb.base_repository_id
    WHERE bb.stale AND bb.base_digest IN (
        SELECT d.base_digest FROM base_repositories d JOIN repositories r ON r.id = d.repository_id
        WHERE d.images > 0 AND ($1::text IS NULL OR r.name ~ $1))
),
stale AS (
    SELECT b.registry, b.name, b.base_tag, ml.blob_digest FROM b JOIN manifest_layers ml ON ml.manifest_digest = b.base_digest
    EXCEPT
    SELECT b.registry, b.name, b.base_tag, ml.blob_digest FROM b JOIN manifest_layers ml ON ml.manifest_digest = b.current_digest
)
SELECT s.registry, s.name, s.base_tag, sum(bl.size)::bigint
FROM stale s JOIN blobs bl ON bl.digest = s.blob_digest
GROUP BY 1, 2, 3;
