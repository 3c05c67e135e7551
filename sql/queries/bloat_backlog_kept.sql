-- name: BloatBacklogKept :one
-- What bloat_backlog.sql counts over every image of every repository, from
-- what the fold keeps: the live layers not indexed (file_totals), less
-- those the file index refused, which count apart (live_layer_blobs). A
-- registry whose layers are mostly not indexed yet (after a first scan
-- without --layers) has millions, too many to count at each report.
SELECT (t.unindexed - r.unindexed)::bigint AS unindexed, r.rejected::bigint AS rejected
FROM file_totals t
CROSS JOIN (
    SELECT count(*) AS rejected, count(*) FILTER (WHERE NOT k.indexed) AS unindexed
    FROM layer_rejections lr JOIN live_layer_blobs k ON k.blob_digest = lr.blob_digest
) r;
