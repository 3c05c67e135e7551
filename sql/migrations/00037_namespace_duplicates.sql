-- `layerq duplicates --repo NS/**` at a million images.
--
-- The report looked up each live blob of the selected repositories in
-- blobs, to learn its content: at 1,000,000 images a namespace of 200
-- repositories holds 112,662 live blobs, 2.1 s of the report's 2.5 s in a
-- 4.87 M-row table. What it lists is few: the layer contents the
-- namespace holds under more than one live blob (3,023 there).
--
-- namespace_duplicate_blobs keeps them per registry and namespace, as
-- registry_contents keeps them per registry (00019): how many live blobs,
-- their bytes, and the bytes all but the smallest store again, indexed by
-- the last; the fold recounts a content when the namespace starts or stops
-- holding one of its blobs (layerq_apply_membership_blobs). A selection
-- that is one namespace's repositories reads a page of the index, and its
-- totals from the namespace's rows.
--
-- `duplicates --kind file` of one namespace read the same blobs to learn
-- which are layers, and which of those are indexed. The namespace's
-- layers not indexed are kept (namespace_backlog, 00022); its indexed
-- ones are now read from the live layer blobs that are indexed (a partial
-- index, empty after a scan without --layers) or from its blobs, whichever
-- are fewer.
--
-- The migration folds what is queued first, with the functions as they
-- are, and counts namespace_blobs as it then is. The fold becomes a stub
-- that takes nothing in until the function files give it its body again
-- (a fold in between, by a process of the previous release, would move
-- namespace_blobs without namespace_duplicate_blobs).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE namespace_duplicate_blobs (
    registry     text NOT NULL,
    namespace    text NOT NULL,
    content      text NOT NULL,   -- the layer's diff_id
    encodings    integer NOT NULL, -- live blobs of the namespace with that content, more than one
    stored_bytes bigint NOT NULL,
    extra_bytes  bigint NOT NULL, -- all but the smallest
    PRIMARY KEY (registry, namespace, content)
);

-- A namespace holds a content under two blobs only if its registry does:
-- its candidates are the registry's (registry_contents).
INSERT INTO namespace_duplicate_blobs (registry, namespace, content, encodings, stored_bytes, extra_bytes)
SELECT nb.registry, nb.namespace, rc.content, count(*), sum(b.size), sum(b.size) - min(b.size)
FROM registry_contents rc
JOIN blobs b ON b.diff_id = rc.content
JOIN namespace_blobs nb ON nb.registry = rc.registry AND nb.digest = b.digest AND nb.refs > 0
GROUP BY 1, 2, 3 HAVING count(*) > 1
ORDER BY 1, 2, 3;

CREATE INDEX live_layer_blobs_indexed_idx ON live_layer_blobs (blob_digest) WHERE indexed;

CREATE INDEX namespace_duplicate_blobs_extra_idx ON namespace_duplicate_blobs (registry, namespace, extra_bytes DESC, content);
ANALYZE namespace_duplicate_blobs;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON namespace_duplicate_blobs FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- The fold of the release before keeps no such table; until its file
-- gives the fold its body again, the fold takes nothing in.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
DROP TABLE namespace_duplicate_blobs;
DROP INDEX live_layer_blobs_indexed_idx;
