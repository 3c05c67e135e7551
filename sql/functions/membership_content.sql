-- The per-content counts (repository_contents, namespace_contents,
-- content_usage) follow the same membership changes as the per-blob ones,
-- read after them: a content is a blob's diff_id, or the blob's own digest
-- when no config names it.
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
        SELECT rc.repository_id, rc.content, i.images AS di, (rc.images > 0)::integer - (rc.images - i.images > 0)::integer AS d
        FROM rc JOIN rcin i USING (repository_id, content)
    ),
    -- The same per namespace (migration 00023): its repositories' images
    -- summed, and the repositories holding the content.
    nc AS (
        INSERT INTO namespace_contents AS t (registry, namespace, content, images, repositories)
        SELECT r.registry, layerq_namespace(r.name), rt.content, sum(rt.di)::integer, sum(rt.d)::integer
        FROM rt JOIN repositories r ON r.id = rt.repository_id
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (registry, namespace, content) DO UPDATE
        SET images = t.images + excluded.images, repositories = t.repositories + excluded.repositories
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
    PERFORM layerq_recount_content_bytes(touched);
END;
$$;

-- The bytes and the live encodings of contents p_contents, from the
-- per-blob counts of their encodings (blob_usage, which the blob fold
-- updates first); the registry totals of duplicate encodings
-- (content_totals) move by what changed.
CREATE OR REPLACE FUNCTION layerq_recount_content_bytes(p_contents text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    WITH s AS (
        SELECT x.content,
            coalesce(sum(u.size) FILTER (WHERE u.manifests > 0), 0)::bigint AS stored,
            coalesce(sum(u.size * (u.manifests - 1)) FILTER (WHERE u.manifests > 0), 0)::bigint AS saved,
            count(*) FILTER (WHERE u.manifests > 0)::integer AS encodings,
            coalesce(sum(u.size) FILTER (WHERE u.manifests > 0) - min(u.size) FILTER (WHERE u.manifests > 0), 0)::bigint AS extra
        FROM (
            SELECT x.content, b.digest FROM unnest(p_contents) AS x(content) JOIN blobs b ON b.diff_id = x.content
            UNION ALL
            SELECT x.content, b.digest FROM unnest(p_contents) AS x(content) JOIN blobs b ON b.digest = x.content AND b.diff_id IS NULL
        ) x
        LEFT JOIN blob_usage u ON u.digest = x.digest
        GROUP BY 1
    ),
    before AS (
        -- As the statement found them (the update below is not seen here).
        SELECT t.content, t.encodings, t.extra_bytes FROM content_usage t JOIN s USING (content)
    ),
    changed AS (
        UPDATE content_usage t
        SET stored_bytes = s.stored, saved_bytes = s.saved, encodings = s.encodings, extra_bytes = s.extra
        FROM s
        WHERE t.content = s.content
          AND (t.stored_bytes, t.saved_bytes, t.encodings, t.extra_bytes) IS DISTINCT FROM (s.stored, s.saved, s.encodings, s.extra)
        RETURNING t.content, t.encodings, t.extra_bytes
    ),
    d AS (
        SELECT coalesce(sum((c.encodings > 1)::integer - (b.encodings > 1)::integer), 0) AS dc,
            coalesce(sum(CASE WHEN c.encodings > 1 THEN c.extra_bytes ELSE 0 END - CASE WHEN b.encodings > 1 THEN b.extra_bytes ELSE 0 END), 0) AS de
        FROM changed c JOIN before b USING (content)
    )
    UPDATE content_totals t SET contents = t.contents + d.dc, extra_bytes = t.extra_bytes + d.de
    FROM d WHERE d.dc <> 0 OR d.de <> 0;
END;
$$;
