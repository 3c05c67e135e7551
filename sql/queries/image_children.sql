-- name: ImageChildren :many
-- The entries of an index.
SELECT child_digest, coalesce(os, ''), coalesce(architecture, ''), coalesce(variant, '')
FROM index_children WHERE index_digest = $1 ORDER BY position;
