-- name: LayerDone :one
-- Whether a layer blob needs no more work: it is indexed or rejected.
SELECT EXISTS (SELECT 1 FROM layer_indexes WHERE blob_digest = @blob_digest::text)
    OR EXISTS (SELECT 1 FROM layer_rejections WHERE blob_digest = @blob_digest::text) AS done;
