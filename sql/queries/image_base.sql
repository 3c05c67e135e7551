-- name: ImageBase :one
-- The base of image digest (image_bases), named by base_builds when it is
-- in use: repository, tag, whether the tag has moved on (and the build it
-- points at now), how the base was found, and how many of the image's
-- layers are the base's.
SELECT ib.base_digest, coalesce(r.name, '') AS repository, coalesce(bb.base_tag, '') AS tag,
    coalesce(bb.stale, false) AS stale, coalesce(bb.current_digest, '') AS current_digest, ib.source, ib.base_layers
FROM image_bases ib
LEFT JOIN base_builds bb ON bb.base_digest = ib.base_digest
LEFT JOIN repositories r ON r.id = bb.base_repository_id
WHERE ib.manifest_digest = sqlc.arg(digest);
