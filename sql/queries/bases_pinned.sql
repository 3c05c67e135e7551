-- name: BasesPinned :many
-- Bytes that stale base builds keep stored, per base (registry, repository,
-- tag): the distinct layer blobs of its stale builds in use by live images
-- in repositories matching repository (a regexp; NULL for all) that the
-- base's current build lacks.
WITH b AS (
    SELECT rb.registry, rb.name, bb.base_tag, bb.base_digest, bb.current_digest
    FROM base_builds bb JOIN repositories rb ON rb.id = bb.base_repository_id
    WHERE bb.stale AND bb.base_digest IN (
        SELECT d.base_digest FROM base_repositories d JOIN repositories r ON r.id = d.repository_id
        WHERE d.images > 0 AND (sqlc.narg(repository)::text IS NULL OR r.name ~ sqlc.narg(repository)))
),
stale AS (
    SELECT b.registry, b.name, b.base_tag, ml.blob_digest FROM b JOIN manifest_layers ml ON ml.manifest_digest = b.base_digest
    EXCEPT
    SELECT b.registry, b.name, b.base_tag, ml.blob_digest FROM b JOIN manifest_layers ml ON ml.manifest_digest = b.current_digest
)
SELECT s.registry AS base_registry, s.name AS base_repository, s.base_tag, sum(bl.size)::bigint AS pinned_bytes
FROM stale s JOIN blobs bl ON bl.digest = s.blob_digest
GROUP BY 1, 2, 3;
