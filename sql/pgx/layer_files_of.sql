-- The file index entries of the layer blobs whose digests are $1, each
-- with the blob's place in $1 (from 1: a number, not its 71-byte digest
-- on every row), its place in its tar and its layer's count of entries.
-- The caller puts each at its place in a slice it makes once per layer
-- from that count (sorting them here spilled to disk for an image of 1 GB).
SELECT k.i, li.entries, f.ordinal, f.type, f.path, f.size, f.mode, f.uid, f.gid, f.digest, coalesce(f.link, '')
FROM unnest($1::text[]) WITH ORDINALITY AS k(digest, i)
JOIN layer_indexes li ON li.blob_digest = k.digest
CROSS JOIN LATERAL (SELECT * FROM layer_files x WHERE x.blob_digest = li.blob_digest) f;
