-- name: LayerContents :many
-- The content (diff_id, else the digest) of each of the layer blobs
-- layers: duplicates --kind layer lists a pair of contents once, whatever
-- encodings each is stored in.
SELECT b.digest, layerq_content(b.diff_id, b.digest)::text AS content
FROM blobs b
WHERE b.digest = ANY (@layers::text[]);
