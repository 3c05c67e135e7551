-- name: DuplicatesBlobTotals :one
-- How many layer contents live images use under more than one blob, and
-- the bytes all but the smallest encoding of each store again, over every
-- repository (the kept figures DuplicatesBlobKept pages through).
SELECT count(*)::bigint AS total_layers, coalesce(sum(extra_bytes), 0)::bigint AS total_bytes_stored_twice
FROM content_usage
WHERE encodings > 1;
