-- Duplicate encodings of a layer content, kept.
--
-- content_usage gains, per content, how many of its encodings (blobs) live
-- images use and the bytes all but the smallest of them store again, so
-- `layerq duplicates --kind blob` reads the contents stored more than once
-- from an index instead of grouping every live blob by diff_id. The fold
-- (layerq_apply_content) keeps both with stored_bytes.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;
-- Fold what is queued first, with the functions as they are (as the one
-- applier), so blob_usage is current for the figures made below.
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

ALTER TABLE content_usage
    ADD COLUMN encodings integer NOT NULL DEFAULT 0,  -- its blobs live images use
    ADD COLUMN extra_bytes bigint NOT NULL DEFAULT 0; -- those blobs' bytes but the smallest's

UPDATE content_usage t
SET encodings = s.encodings, extra_bytes = s.extra
FROM (
    SELECT x.content, count(*)::integer AS encodings, (sum(u.size) - min(u.size))::bigint AS extra
    FROM (
        SELECT b.diff_id AS content, b.digest FROM blobs b WHERE b.diff_id IS NOT NULL
        UNION ALL
        SELECT b.digest, b.digest FROM blobs b WHERE b.diff_id IS NULL
    ) x
    JOIN blob_usage u ON u.digest = x.digest AND u.manifests > 0
    GROUP BY 1
) s
WHERE t.content = s.content;

-- duplicates --kind blob: the contents stored more than once, most bytes
-- stored again first.
CREATE INDEX content_usage_extra_idx ON content_usage (extra_bytes DESC, content) WHERE encodings > 1;

-- +goose Down
DROP INDEX content_usage_extra_idx;
ALTER TABLE content_usage DROP COLUMN encodings, DROP COLUMN extra_bytes;
