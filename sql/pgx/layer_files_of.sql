-- The file index entries of the layer blobs whose digests are $1, each
-- with its place in its tar and its layer's count of entries. The caller
-- puts each at its place in a slice it makes once per layer from that
-- count (sorting them here spilled to disk for an image of 1 GB).
SELECT f.blob_digest, li.entries, f.ordinal, f.type, f.path, f.size, f.mode, f.uid, f.gid, f.digest, coalesce(f.link, '')
FROM layer_indexes li
CROSS JOIN LATERAL (SELECT * FROM layer_files x WHERE x.blob_digest = li.blob_digest) f
WHERE li.blob_digest = ANY ($1::text[]);
