-- name: FindFilesByName :many
-- The regular files of every indexed layer whose base name is like
-- name_like (a LIKE pattern: a literal prefix then %, read from the name
-- index; '%' for any) and whose path matches path_re.
SELECT lf.blob_digest, lf.path, lf.size, lf.digest
FROM layer_files lf
WHERE lf.type = 1
  AND reverse(split_part(reverse(lf.path), '/', 1)) LIKE sqlc.arg(name_like)::text
  AND lf.path ~ sqlc.arg(path_re)::text;

-- name: FindFilesByContent :many
-- The regular files of every indexed layer with content digest digest.
SELECT lf.blob_digest, lf.path, lf.size, lf.digest
FROM layer_files lf
WHERE lf.type = 1 AND lf.digest = sqlc.arg(digest)::bytea;
