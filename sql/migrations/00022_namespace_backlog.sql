-- `layerq bloat --repo NS/**` at a million images.
--
-- While a namespace's layers are not indexed (after a first scan without
-- --layers), the report counts the distinct layers its images wait for.
-- It read every edge of the namespace's images to count them: 200,000
-- edges for a namespace of 20,000 images at 1M, 1.3 s of the report's
-- 1.45 s. namespace_backlog keeps, per registry and namespace, the live
-- layers the namespace holds (namespace_blobs) that have no file index
-- (live_layer_blobs), as file_totals.unindexed counts them over the
-- registry. The fold moves it (layerq_apply_namespace_backlog, called
-- before and after the fold's changes for the blobs they may touch).
--
-- The migration folds what is queued first, with the functions as they
-- are, and counts namespace_blobs as it then is. The fold becomes a stub
-- that takes nothing in until the function files give it its body again
-- (a fold in between, by a process of the previous release, would move
-- the live layers without this count).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE namespace_backlog (
    registry  text NOT NULL,
    namespace text NOT NULL,
    unindexed bigint NOT NULL, -- live layers the namespace holds with no file index (refused ones included)
    PRIMARY KEY (registry, namespace)
);

INSERT INTO namespace_backlog (registry, namespace, unindexed)
SELECT nb.registry, nb.namespace, count(*)
FROM namespace_blobs nb
JOIN live_layer_blobs k ON k.blob_digest = nb.digest AND NOT k.indexed
WHERE nb.refs > 0
GROUP BY 1, 2;

-- +goose StatementBegin
CREATE FUNCTION layerq_apply_namespace_backlog(p_blobs text[], p_sign integer) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    INSERT INTO namespace_backlog AS t (registry, namespace, unindexed)
    SELECT nb.registry, nb.namespace, p_sign * count(*)
    FROM namespace_blobs nb
    JOIN live_layer_blobs k ON k.blob_digest = nb.digest AND NOT k.indexed
    WHERE nb.digest = ANY (p_blobs) AND nb.refs > 0
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (registry, namespace) DO UPDATE SET unindexed = t.unindexed + excluded.unindexed;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON namespace_backlog FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- The fold's own file of the release before calls no such function; until
-- it gives the fold its body again, the fold takes nothing in.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
DROP FUNCTION layerq_apply_namespace_backlog(text[], integer);
DROP TABLE namespace_backlog;
