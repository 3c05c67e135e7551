-- name: QuarantineDrop :exec
-- Drop quarantined items by id.
DELETE FROM quarantine WHERE id = ANY($1::text[]);
