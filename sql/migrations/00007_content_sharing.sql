-- Sharing per layer content.
--
-- One layer's content (its uncompressed tar, named by its diff_id) may be
-- stored under several blobs: gzip and zstd copies, other compression
-- levels. blob_usage counts per blob, which splits one layer's sharing
-- across its encodings; the tables here count per content, the way images
-- see it, kept by the same fold (layerq_apply_membership):
--
--   repository_contents  live image manifests per (repository, content)
--   content_usage        live image manifests and repositories per content,
--                        with the bytes its encodings store and the bytes
--                        sharing saves (each encoding stored once instead of
--                        once per image using it)
--
-- A content is a blob's diff_id, or the blob's own digest when no config
-- names its diff_id.

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;
-- Fold what is queued first, with the functions as they were (as the one
-- applier: the fold's advisory lock, held to the end of the migration), so
-- the per-blob aggregates and the counts made below start from one state.
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE repository_contents (
    repository_id bigint NOT NULL,
    content       text NOT NULL,
    images        integer NOT NULL,
    PRIMARY KEY (repository_id, content)
);

CREATE TABLE content_usage (
    content      text PRIMARY KEY,
    images       integer NOT NULL,   -- live image manifests holding the content, any encoding
    repositories integer NOT NULL,   -- repositories with such a manifest live
    stored_bytes bigint NOT NULL,    -- its live encodings, each once
    saved_bytes  bigint NOT NULL     -- per encoding: size × (images using it − 1)
);
-- top-shared ranks the shared contents by each of its sort keys (then by
-- images, repositories, stored bytes and content).
CREATE INDEX content_usage_images_idx ON content_usage (images DESC, repositories DESC, stored_bytes DESC, content) WHERE images > 1;
CREATE INDEX content_usage_repositories_idx ON content_usage (repositories DESC, images DESC, stored_bytes DESC, content) WHERE images > 1;
CREATE INDEX content_usage_saved_idx ON content_usage (saved_bytes DESC, images DESC, repositories DESC, stored_bytes DESC, content) WHERE images > 1;
CREATE INDEX content_usage_stored_idx ON content_usage (stored_bytes DESC, images DESC, repositories DESC, content) WHERE images > 1;
-- Where a content is held, for sample repositories.
CREATE INDEX repository_contents_content_idx ON repository_contents (content) WHERE images > 0;
-- A content's encodings.
CREATE INDEX blobs_diff_id_idx ON blobs (diff_id) WHERE diff_id IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION layerq_content(diff_id text, digest text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(diff_id, digest) $$;
-- +goose StatementEnd

-- The per-content counts follow the same membership changes as the per-blob
-- ones; layerq_apply_membership_blobs (the former layerq_apply_membership)
-- keeps manifest_refs, which this reads after it.
ALTER FUNCTION layerq_apply_membership(bigint[], text[], integer[]) RENAME TO layerq_apply_membership_blobs;

-- +goose StatementBegin
CREATE FUNCTION layerq_apply_content(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    touched text[];
BEGIN
    WITH ch AS (
        SELECT u.r AS repository_id, u.m AS manifest_digest, sum(u.d)::integer AS delta
        FROM unnest(p_repo, p_manifest, p_delta) AS u(r, m, d)
        JOIN manifests m ON m.digest = u.m AND m.kind = 'image'
        GROUP BY 1, 2 HAVING sum(u.d) <> 0
    ),
    -- Image manifests that went live (+1) or dead (-1) everywhere:
    -- manifest_refs already holds the count after the change.
    mt AS (
        SELECT x.manifest_digest, (mr.repositories > 0)::integer - (mr.repositories - x.delta > 0)::integer AS d
        FROM (SELECT manifest_digest, sum(delta)::integer AS delta FROM ch GROUP BY 1) x
        JOIN manifest_refs mr USING (manifest_digest)
    ),
    content AS (
        SELECT DISTINCT ml.manifest_digest, layerq_content(b.diff_id, b.digest) AS content
        FROM manifest_layers ml
        JOIN blobs b ON b.digest = ml.blob_digest
        WHERE ml.manifest_digest IN (SELECT manifest_digest FROM ch)
    ),
    rcin AS (
        SELECT ch.repository_id, c.content, sum(ch.delta)::integer AS images
        FROM ch JOIN content c USING (manifest_digest)
        GROUP BY 1, 2
    ),
    rc AS (
        INSERT INTO repository_contents AS t (repository_id, content, images)
        SELECT repository_id, content, images FROM rcin ORDER BY repository_id, content
        ON CONFLICT (repository_id, content) DO UPDATE SET images = t.images + excluded.images
        RETURNING t.repository_id, t.content, t.images
    ),
    rt AS (
        SELECT rc.content, (rc.images > 0)::integer - (rc.images - i.images > 0)::integer AS d
        FROM rc JOIN rcin i USING (repository_id, content)
    ),
    cu AS (
        INSERT INTO content_usage AS t (content, images, repositories, stored_bytes, saved_bytes)
        SELECT x.content, sum(x.di)::integer, sum(x.dr)::integer, 0, 0
        FROM (
            SELECT c.content, mt.d AS di, 0 AS dr FROM mt JOIN content c USING (manifest_digest) WHERE mt.d <> 0
            UNION ALL
            SELECT content, 0, d FROM rt WHERE d <> 0
        ) x
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (content) DO UPDATE
        SET images = t.images + excluded.images, repositories = t.repositories + excluded.repositories
        RETURNING t.content
    )
    SELECT array_agg(content) INTO touched FROM cu;

    IF touched IS NULL THEN
        RETURN;
    END IF;
    -- The bytes follow the per-blob counts of the touched contents'
    -- encodings, which the blob fold has just updated.
    UPDATE content_usage t
    SET stored_bytes = s.stored, saved_bytes = s.saved
    FROM (
        SELECT x.content,
            coalesce(sum(u.size) FILTER (WHERE u.manifests > 0), 0)::bigint AS stored,
            coalesce(sum(u.size * (u.manifests - 1)) FILTER (WHERE u.manifests > 0), 0)::bigint AS saved
        FROM (
            SELECT x.content, b.digest FROM unnest(touched) AS x(content) JOIN blobs b ON b.diff_id = x.content
            UNION ALL
            SELECT x.content, b.digest FROM unnest(touched) AS x(content) JOIN blobs b ON b.digest = x.content AND b.diff_id IS NULL
        ) x
        LEFT JOIN blob_usage u ON u.digest = x.digest
        GROUP BY 1
    ) s
    WHERE t.content = s.content AND (t.stored_bytes, t.saved_bytes) IS DISTINCT FROM (s.stored, s.saved);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_apply_membership(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM layerq_apply_membership_blobs(p_repo, p_manifest, p_delta);
    PERFORM layerq_apply_content(p_repo, p_manifest, p_delta);
END;
$$;
-- +goose StatementEnd

-- Count what the graph holds now.
INSERT INTO repository_contents (repository_id, content, images)
SELECT rm.repository_id, layerq_content(b.diff_id, b.digest), count(DISTINCT rm.manifest_digest)
FROM repository_manifests rm
JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
JOIN blobs b ON b.digest = ml.blob_digest
WHERE rm.deleted_at IS NULL
GROUP BY 1, 2;

INSERT INTO content_usage (content, images, repositories, stored_bytes, saved_bytes)
SELECT c.content, c.images, coalesce(r.repositories, 0), coalesce(s.stored, 0), coalesce(s.saved, 0)
FROM (
    SELECT layerq_content(b.diff_id, b.digest) AS content, count(DISTINCT ml.manifest_digest)::integer AS images
    FROM manifest_refs mr
    JOIN manifests m ON m.digest = mr.manifest_digest AND m.kind = 'image'
    JOIN manifest_layers ml ON ml.manifest_digest = mr.manifest_digest
    JOIN blobs b ON b.digest = ml.blob_digest
    WHERE mr.repositories > 0
    GROUP BY 1
) c
LEFT JOIN (
    SELECT content, count(*)::integer AS repositories FROM repository_contents WHERE images > 0 GROUP BY 1
) r USING (content)
LEFT JOIN (
    SELECT layerq_content(b.diff_id, b.digest) AS content, sum(u.size)::bigint AS stored,
        sum(u.size * (u.manifests - 1))::bigint AS saved
    FROM blob_usage u JOIN blobs b ON b.digest = u.digest
    WHERE u.manifests > 0
    GROUP BY 1
) s USING (content);

-- Top-shared, precomputed: layer contents by the live images holding them.
CREATE VIEW shared_contents AS
SELECT content, images, repositories, stored_bytes, saved_bytes
FROM content_usage
WHERE images > 0;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON repository_contents, content_usage FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP VIEW shared_contents;
DROP FUNCTION layerq_apply_membership(bigint[], text[], integer[]);
DROP FUNCTION layerq_apply_content(bigint[], text[], integer[]);
ALTER FUNCTION layerq_apply_membership_blobs(bigint[], text[], integer[]) RENAME TO layerq_apply_membership;
DROP FUNCTION layerq_content(text, text);
DROP INDEX blobs_diff_id_idx;
DROP TABLE content_usage, repository_contents;
