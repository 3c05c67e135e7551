-- Registry totals of duplicate encodings, kept; and the step that made a
-- layer content as a function (layerq_first_step), which top-shared's
-- queries share.
--
-- `layerq duplicates --kind blob` says over every repository how many layer
-- contents live images use under more than one blob and the bytes all but
-- the smallest of them store again. It summed content_usage's rows with two
-- live encodings at each run (131k rows, 0.1-0.2 s at 1M images);
-- content_totals keeps the sums, moved by the fold (layerq_apply_content,
-- sql/functions) with each content it recounts.
--
-- The migration folds what is queued first, with the functions as they
-- are, and sums content_usage as it then is. The fold becomes a stub that
-- takes nothing in until the function files give it its body again (a
-- fold in between, by a process of the previous release, would move
-- content_usage without the totals).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE content_totals (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    contents    bigint NOT NULL, -- contents live images use under more than one blob
    extra_bytes bigint NOT NULL  -- the bytes all but the smallest of those blobs store again
);
INSERT INTO content_totals (contents, extra_bytes)
SELECT count(*), coalesce(sum(extra_bytes), 0) FROM content_usage WHERE encodings > 1;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON content_totals FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- The step that made a layer content, for top-shared (sql/functions).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_first_step(digests text[]) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT x.created_by FROM unnest(digests) AS d(digest)
                     CROSS JOIN LATERAL (SELECT ml.created_by, ml.manifest_digest, ml.position FROM manifest_layers ml
                                         WHERE ml.blob_digest = d.digest AND ml.created_by IS NOT NULL
                                         ORDER BY ml.manifest_digest, ml.position LIMIT 1) x
                     ORDER BY x.manifest_digest, x.position LIMIT 1), '')
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION layerq_first_step(text[]);
-- layerq_apply_content as it was before; the fold's own file is the same
-- at both versions.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_content(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
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
    -- The bytes and the live encodings follow the per-blob counts of the
    -- touched contents' encodings, which the blob fold has just updated.
    UPDATE content_usage t
    SET stored_bytes = s.stored, saved_bytes = s.saved, encodings = s.encodings, extra_bytes = s.extra
    FROM (
        SELECT x.content,
            coalesce(sum(u.size) FILTER (WHERE u.manifests > 0), 0)::bigint AS stored,
            coalesce(sum(u.size * (u.manifests - 1)) FILTER (WHERE u.manifests > 0), 0)::bigint AS saved,
            count(*) FILTER (WHERE u.manifests > 0)::integer AS encodings,
            coalesce(sum(u.size) FILTER (WHERE u.manifests > 0) - min(u.size) FILTER (WHERE u.manifests > 0), 0)::bigint AS extra
        FROM (
            SELECT x.content, b.digest FROM unnest(touched) AS x(content) JOIN blobs b ON b.diff_id = x.content
            UNION ALL
            SELECT x.content, b.digest FROM unnest(touched) AS x(content) JOIN blobs b ON b.digest = x.content AND b.diff_id IS NULL
        ) x
        LEFT JOIN blob_usage u ON u.digest = x.digest
        GROUP BY 1
    ) s
    WHERE t.content = s.content
      AND (t.stored_bytes, t.saved_bytes, t.encodings, t.extra_bytes) IS DISTINCT FROM (s.stored, s.saved, s.encodings, s.extra);
END;
$$;
-- +goose StatementEnd
DROP TABLE content_totals;
