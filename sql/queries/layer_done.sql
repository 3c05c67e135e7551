-- Whether a layer blob needs no more work: its diff_id is indexed (from this
-- blob or another encoding of the same tar) or the blob was rejected.
SELECT EXISTS (SELECT 1 FROM layer_indexes WHERE diff_id = $1)
    OR EXISTS (SELECT 1 FROM layer_rejections WHERE blob_digest = $2)
