-- name: ImageChildren :many
-- The entries of an index (index: its digest), in its order, with the
-- platforms it declares for them (empty when it does not say).
SELECT child_digest, coalesce(os, '') AS os, coalesce(architecture, '') AS architecture, coalesce(variant, '') AS variant
FROM index_children WHERE index_digest = sqlc.arg(index) ORDER BY position;
