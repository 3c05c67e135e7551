-- `layerq top-shared --repo NS/**` at a million images.
--
-- The report sums the selected repositories' kept per-content counts
-- (repository_contents) when no live manifest is in two of them, and
-- ranks the sums: 93,000 rows for a namespace of 200 repositories at 1M
-- images, 0.27 s of the report's 0.38 s.
--
-- namespace_contents keeps the same sums per registry and namespace: the
-- namespace's repositories' images holding each content, and the
-- repositories holding it, indexed by each ranking, so a selection that is
-- one namespace's repositories reads a page. (Whether a manifest is in two
-- of them the fold counts too, since 00024.)
--
-- The migration folds what is queued first, with the functions as they
-- are, and sums repository_contents as it then is. The fold becomes a stub
-- that takes nothing in until the function files give it its body again
-- (a fold in between, by a process of the previous release, would move
-- the per-repository counts without these).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE namespace_contents (
    registry     text NOT NULL,
    namespace    text NOT NULL,
    content      text NOT NULL,
    images       integer NOT NULL, -- live images holding it, summed over the namespace's repositories
    repositories integer NOT NULL, -- the namespace's repositories holding it
    PRIMARY KEY (registry, namespace, content)
);

INSERT INTO namespace_contents (registry, namespace, content, images, repositories)
SELECT r.registry, layerq_namespace(r.name), rc.content, sum(rc.images), count(*)
FROM repository_contents rc
JOIN repositories r ON r.id = rc.repository_id
WHERE rc.images > 0
GROUP BY 1, 2, 3;

CREATE INDEX namespace_contents_images_idx ON namespace_contents (registry, namespace, images DESC, repositories DESC) WHERE images > 0;
CREATE INDEX namespace_contents_repositories_idx ON namespace_contents (registry, namespace, repositories DESC, images DESC) WHERE images > 0;
ANALYZE namespace_contents;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON namespace_contents FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- The fold's per-content step of the release before keeps no such table;
-- until its file gives the fold its body again, the fold takes nothing in.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
DROP TABLE namespace_contents;
