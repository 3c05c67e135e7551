-- name: RefDigest :many
-- The repositories that hold, or held, a manifest whose digest starts with
-- digest (a whole digest, or a short one: "sha256:" and its first hex
-- digits): registry, repository, the manifest's digest, its kind, when it
-- was deleted from the repository (NULL while live there) and whether a
-- live tag there names it.
-- Per digest, live memberships come first, tagged ones first among them.
-- The digest index does not serve a prefix: this reads every membership,
-- once per command-line lookup.
SELECT r.registry, r.name AS repository, rm.manifest_digest, m.kind, rm.deleted_at,
    EXISTS (SELECT 1 FROM tags tg WHERE tg.repository_id = rm.repository_id
        AND tg.manifest_digest = rm.manifest_digest AND tg.deleted_at IS NULL) AS tagged
FROM repository_manifests rm
JOIN repositories r ON r.id = rm.repository_id
JOIN manifests m ON m.digest = rm.manifest_digest
WHERE starts_with(rm.manifest_digest, sqlc.arg(digest))
ORDER BY rm.manifest_digest, rm.deleted_at IS NOT NULL, tagged DESC, rm.deleted_at DESC, r.registry, r.name;
