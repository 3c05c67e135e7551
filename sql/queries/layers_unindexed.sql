-- name: LayersUnindexed :many
-- Of the layer blobs digests, those neither indexed nor rejected: what a
-- push queues for indexing. Primary-key lookups only, on the ingest path.
SELECT d::text AS digest FROM unnest(@digests::text[]) AS d
WHERE NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = d)
  AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = d);
