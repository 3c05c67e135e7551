-- name: ManifestChildren :many
-- Every manifest below the given ones (digests) through index entries, at
-- any depth.
WITH RECURSIVE below(digest) AS (
    SELECT child_digest FROM index_children WHERE index_digest = ANY(@digests::text[])
    UNION
    SELECT ic.child_digest FROM index_children ic JOIN below b ON ic.index_digest = b.digest
)
SELECT digest FROM below;
