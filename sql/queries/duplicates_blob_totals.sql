-- name: DuplicatesBlobTotals :one
-- How many layer contents live images use under more than one blob, and
-- the bytes all but the smallest encoding of each store again, over every
-- repository (the kept figures DuplicatesBlobKept pages through), as the
-- fold keeps them (content_totals).
SELECT contents AS total_layers, extra_bytes AS total_bytes_stored_twice
FROM content_totals;
