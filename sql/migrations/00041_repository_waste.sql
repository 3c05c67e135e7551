-- `layerq bloat --repo NS/**`: a page of a few repositories' images by
-- the bytes they waste.
--
-- The report's page walked every analyzed image of the registry by wasted
-- bytes and looked up each one's memberships until it had found a page
-- of the selected repositories' images: 3,503 images walked, and probed,
-- for the first 50 of one namespace's 20 repositories at 100,000 images
-- with file indexes. repository_waste keeps, for each live image the
-- report shows at its defaults (image_bloat.shown), its wasted bytes
-- under each repository holding it, indexed by repository and wasted
-- bytes: a page of a few repositories is the first rows of each one's
-- range. The fold writes the rows of every image whose membership or
-- bloat it changes (layerq_apply_bloat).
--
-- The migration folds what is queued first, with the functions as they
-- are, and fills the table from what the fold then keeps. The fold
-- becomes a stub that takes nothing in until the function files give it
-- its body again.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections, image_waste IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE repository_waste (
    repository_id   bigint NOT NULL,
    manifest_digest text NOT NULL,
    wasted_bytes    bigint NOT NULL, -- image_bloat's, for an image the report shows at its defaults
    PRIMARY KEY (repository_id, manifest_digest)
);
INSERT INTO repository_waste (repository_id, manifest_digest, wasted_bytes)
SELECT rm.repository_id, rm.manifest_digest, b.wasted_bytes
FROM repository_manifests rm
JOIN image_bloat b ON b.manifest_digest = rm.manifest_digest AND b.shown > 0
WHERE rm.deleted_at IS NULL
ORDER BY 1, 2;
-- The report's page of a repository: its images by wasted bytes.
CREATE INDEX repository_waste_rank_idx ON repository_waste (repository_id, wasted_bytes DESC, manifest_digest);
-- The fold's rewrites, by image.
CREATE INDEX repository_waste_manifest_idx ON repository_waste (manifest_digest);
ANALYZE repository_waste;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON repository_waste FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);
-- The fold of the release before keeps no such table; until its file
-- gives the fold its body again, the fold takes nothing in.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
DROP TABLE repository_waste;
