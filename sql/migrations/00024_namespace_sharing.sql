-- `layerq top-shared --repo NS/**` at a million images, continued.
--
-- 1. A content the namespace holds under two blobs (a gzip and a zstd
--    copy) lists the images of each: the report summed each encoding's
--    repository_blobs.image_refs over the namespace's repositories, a
--    lookup per repository and encoding (8,800 for 20 contents of a
--    namespace of 200 repositories at 1M images, 0.09 s).
--    namespace_blobs.image_refs keeps that sum.
-- 2. The namespace's kept sums are exact when no live manifest is in two
--    of its repositories; the report checked by reading each of their
--    memberships (20,000, 0.03 s). namespace_usage.shared_manifests keeps
--    how many manifests are live in two or more of them.
-- The fold moves both with each membership change
-- (layerq_apply_membership_blobs).
--
-- The migration folds what is queued first, with the functions as they
-- are (a stub, when an earlier migration of the same run made it one),
-- and counts repository_blobs as the fold left it, and the memberships as
-- the fold has them. namespace_blobs' every row is rewritten, so its indexes are built
-- again after the rewrite rather than updated row by row (at 1M images,
-- 5.6 M rows: 11 minutes updated in place). The fold becomes a stub that
-- takes nothing in until the function files give it its body again.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers, layer_indexes, layer_rejections IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

ALTER TABLE namespace_blobs ADD COLUMN image_refs integer NOT NULL DEFAULT 0; -- live image manifests using the blob, summed over the namespace's repositories
DROP INDEX namespace_blobs_digest_idx;
ALTER TABLE namespace_blobs DROP CONSTRAINT namespace_blobs_pkey;
UPDATE namespace_blobs nb SET image_refs = x.image_refs
FROM (
    SELECT r.registry, layerq_namespace(r.name) AS namespace, rb.digest, sum(rb.image_refs)::integer AS image_refs
    FROM repository_blobs rb
    JOIN repositories r ON r.id = rb.repository_id
    WHERE rb.image_refs <> 0
    GROUP BY 1, 2, 3
) x
WHERE nb.registry = x.registry AND nb.namespace = x.namespace AND nb.digest = x.digest;
ALTER TABLE namespace_blobs ADD PRIMARY KEY (registry, namespace, digest);
CREATE INDEX namespace_blobs_digest_idx ON namespace_blobs (digest) WHERE refs > 0;

ALTER TABLE namespace_usage ADD COLUMN shared_manifests integer NOT NULL DEFAULT 0; -- manifests live in two or more of its repositories
-- The memberships as the fold has them: those live now, less the changes
-- still queued (the previous migrations of one run leave the fold a stub,
-- so changes committed between them wait; the fold will count them).
WITH queued AS (
    SELECT repository_id, manifest_digest, sum(delta)::integer AS delta
    FROM aggregate_queue WHERE delta IS NOT NULL
    GROUP BY 1, 2
),
folded AS (
    SELECT repository_id, manifest_digest
    FROM (SELECT repository_id, manifest_digest FROM repository_manifests WHERE deleted_at IS NULL) l
    FULL JOIN queued q USING (repository_id, manifest_digest)
    WHERE (l.repository_id IS NOT NULL)::integer - coalesce(q.delta, 0) > 0
)
UPDATE namespace_usage u SET shared_manifests = x.shared
FROM (
    SELECT registry, namespace, count(*)::integer AS shared FROM (
        SELECT r.registry, layerq_namespace(r.name) AS namespace, f.manifest_digest
        FROM folded f JOIN repositories r ON r.id = f.repository_id
        GROUP BY 1, 2, 3 HAVING count(*) > 1
    ) d GROUP BY 1, 2
) x
WHERE u.registry = x.registry AND u.namespace = x.namespace;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
ALTER TABLE namespace_usage DROP COLUMN shared_manifests;
ALTER TABLE namespace_blobs DROP COLUMN image_refs;
