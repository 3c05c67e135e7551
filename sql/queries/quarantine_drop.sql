-- name: QuarantineDrop :execrows
-- Drop quarantined items by id.
DELETE FROM quarantine WHERE id = ANY(@ids::text[]);
