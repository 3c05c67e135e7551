-- Repositories by name.
--
-- top-shared names a few repositories holding each content, the first by
-- name. A content held by many repositories is answered by walking the
-- repositories in name order and stopping at the fifth that holds it,
-- instead of reading every repository that does and sorting them.

-- +goose Up
CREATE INDEX repositories_name_idx ON repositories (name);

-- +goose Down
DROP INDEX repositories_name_idx;
