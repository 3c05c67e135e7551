-- `duplicates --kind file --repo NS/**` probes each of the namespace's
-- blobs for its listing instead of joining them with the indexed live
-- layers: the partial index of those (00037), made for that join, is read
-- by nothing else, and the fold kept it for every layer it marked
-- indexed.

-- +goose Up
DROP INDEX IF EXISTS live_layer_blobs_indexed_idx;

-- +goose Down
CREATE INDEX live_layer_blobs_indexed_idx ON live_layer_blobs (blob_digest) WHERE indexed;
