-- What the Grafana dashboards read, and the role they read it as.
--
-- The dashboards query views only (dashboards/*.json), as layerq_reader: a
-- role with SELECT on the graph and no write grant, which a login role for
-- Grafana joins (the README, Dashboards, says how). The views add to those of
-- 00003 what the overview and cache dashboards show beyond the reports'
-- tables: each image's waste, bases by name, blobs stored twice, cache
-- busters per repository, and the ingest backlog.

-- +goose Up

-- Each image manifest's waste, worked out with the bloat report's analysis
-- (internal/dedup) once every layer of it is indexed, by `serve` in the
-- background and by `layerq bloat`. A manifest's layers never change, so a
-- row never goes stale. What depends on other images (which layers come
-- from a base, and so which layer runs could merge) is left to the report.
CREATE TABLE image_waste (
    manifest_digest         text PRIMARY KEY,
    layers                  integer NOT NULL,
    wasted_bytes            bigint NOT NULL,
    wasted_compressed_bytes bigint NOT NULL,
    final_files             integer NOT NULL,
    final_bytes             bigint NOT NULL,
    analyzed_at             timestamptz NOT NULL DEFAULT now()
);

-- Live images with their waste, one row per repository holding them, named
-- by the first live tag naming them (or an index holding them).
CREATE VIEW bloated_images AS
SELECT r.registry, r.name AS repository,
    coalesce((SELECT min(x.name) FROM (
                  SELECT t.name FROM tags t
                  WHERE t.manifest_digest = m.digest AND t.repository_id = r.id AND t.deleted_at IS NULL
                  UNION ALL
                  SELECT t.name FROM index_children ic
                  JOIN tags t ON t.manifest_digest = ic.index_digest AND t.repository_id = r.id AND t.deleted_at IS NULL
                  WHERE ic.child_digest = m.digest) x), '') AS tag,
    m.digest, layerq_platform(m.os, m.architecture, m.variant) AS platform,
    w.layers, w.wasted_bytes, w.wasted_compressed_bytes, w.final_files, w.final_bytes
FROM image_waste w
JOIN manifests m ON m.digest = w.manifest_digest
JOIN repository_manifests rm ON rm.manifest_digest = w.manifest_digest AND rm.deleted_at IS NULL
JOIN repositories r ON r.id = rm.repository_id;

-- Bases by name (the repository:tag that points or last pointed at their
-- builds): builds in use, images built on them, and those on a stale build.
CREATE VIEW base_usage AS
WITH named AS (
    SELECT r.registry, r.name AS repository, b.base_tag AS tag,
        count(*)::bigint AS builds, sum(b.images)::bigint AS images,
        coalesce(sum(b.images) FILTER (WHERE b.stale), 0)::bigint AS stale_images,
        array_agg(b.base_digest) AS digests
    FROM base_builds b
    JOIN repositories r ON r.id = b.base_repository_id
    GROUP BY r.registry, r.name, b.base_tag
)
SELECT n.registry, n.repository, n.tag, n.builds, n.images,
    -- A repository with images on two builds of the base counts once.
    (SELECT count(DISTINCT br.repository_id) FROM base_repositories br
     WHERE br.base_digest = ANY (n.digests) AND br.images > 0) AS dependent_repositories,
    n.stale_images
FROM named n;

-- Layers a registry stores under more than one blob (the same tar
-- compressed differently): bytes_stored_twice keeps the smallest encoding.
CREATE VIEW duplicate_blobs AS
SELECT rb.registry, b.diff_id, count(*)::bigint AS encodings,
    sum(b.size)::bigint AS stored_bytes, (sum(b.size) - min(b.size))::bigint AS bytes_stored_twice,
    array_agg(b.digest ORDER BY b.size, b.digest) AS digests,
    array_agg(b.media_type ORDER BY b.size, b.digest) AS media_types
FROM registry_blobs rb
JOIN blobs b ON b.digest = rb.digest
WHERE rb.repositories > 0 AND b.diff_id IS NOT NULL
GROUP BY rb.registry, b.diff_id
HAVING count(*) > 1;

-- The first changed step of consecutive pushes per repository, with the
-- report's advice (layerq cache's busters, before they are summed).
CREATE VIEW cache_busters AS
SELECT s.registry, s.repository, s.step, s.base_changed, s.pushes,
    coalesce(layerq_cache_advice(s.step, CASE WHEN s.base_changed THEN 0 ELSE 1 END), '') AS advice
FROM cache_history_steps s;

-- Work the graph has queued: aggregate changes not folded yet, layers of
-- live images (as of the last fold) neither indexed nor rejected.
CREATE VIEW ingest_backlog AS
SELECT (SELECT count(*) FROM aggregate_queue)::bigint AS aggregate_changes,
    -- blob_usage holds configs too: blobs holds layers only. Foreign and
    -- non-distributable layers live outside the registry and are never
    -- indexed (as layers_pending.sql leaves them out).
    (SELECT count(*) FROM blob_usage u
     JOIN blobs b ON b.digest = u.digest
     WHERE u.manifests > 0 AND b.diff_id IS NOT NULL
       AND b.media_type NOT LIKE '%foreign%' AND b.media_type NOT LIKE '%nondistributable%'
       AND NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = u.digest)
       AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = u.digest))::bigint AS layers_pending;

-- The read-only role. Roles belong to the cluster: another database's
-- migration may have made it already. A migrating user that may not create
-- roles (some managed services) gets a warning; an administrator then
-- creates the role and runs the grants below by hand (README, Dashboards).
-- Down leaves the role: other databases of the cluster may use it.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_reader') THEN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
            -- Another database's migration may create it at the same time.
            BEGIN
                CREATE ROLE layerq_reader NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        ELSE
            RAISE WARNING 'layerq: cannot create role layerq_reader as %; create it (CREATE ROLE layerq_reader NOLOGIN) and grant it SELECT on schema %', current_user, current_schema();
            RETURN;
        END IF;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO layerq_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO layerq_reader', current_schema());
    -- Tables and views later migrations make are readable too.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO layerq_reader', current_schema());
END
$$;
-- +goose StatementEnd

-- PostgreSQL before 15 lets every role create tables in the public schema;
-- layerq's schema is written by migrations only. (Revoking what another
-- owner granted only warns.)
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', current_schema());
END
$$;
-- +goose StatementEnd

-- Functions are executable by everyone unless revoked. The applier runs
-- with its owner's rights (SECURITY DEFINER) and writes the aggregates: only
-- the owner calls it.
REVOKE EXECUTE ON FUNCTION layerq_apply_pending() FROM PUBLIC;

-- +goose Down
GRANT EXECUTE ON FUNCTION layerq_apply_pending() TO PUBLIC;
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_reader') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE SELECT ON TABLES FROM layerq_reader', current_schema());
        EXECUTE format('REVOKE SELECT ON ALL TABLES IN SCHEMA %I FROM layerq_reader', current_schema());
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM layerq_reader', current_schema());
    END IF;
END
$$;
-- +goose StatementEnd
DROP VIEW ingest_backlog, cache_busters, duplicate_blobs, base_usage, bloated_images;
DROP TABLE image_waste;
