-- `layerq bases` and the dashboards' base panels at a million images.
--
-- The view base_builds worked out at every read what a base build's
-- dependents, name and staleness are: the live images of each build
-- summed from base_repositories (35,000 rows at 1M images), the tags and
-- tag events naming each build, and the build each moved tag points at
-- now, over eight tables in a new backend. The fold now keeps those rows
-- in base_build_rows (layerq_refresh_base_builds, after each batch: the
-- base builds in use are few, and only the rows that changed are
-- written), and base_builds reads them. Tag deletes are queued too
-- (they were not: no aggregate followed them), so that a deleted base tag
-- renames its builds at the next fold.
--
-- The fold becomes a stub that takes nothing in until the function files
-- give it its body again (a fold in between, by a process of the
-- previous release, would leave base_build_rows behind).

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);

CREATE TABLE base_build_rows (
    base_digest        text PRIMARY KEY, -- a base build with live images built on it
    images             bigint NOT NULL,  -- live images built on it
    repositories       bigint NOT NULL,  -- repositories holding them
    base_repository_id bigint,           -- the repository of the tag that names it (or one holding it)
    base_tag           text NOT NULL,    -- that tag ('' if none ever did)
    current_digest     text,             -- the build the tag points at now, for its platform
    stale              boolean NOT NULL  -- the tag has moved on to another build
);

-- +goose StatementBegin
-- Keep base_build_rows (what the view base_builds shows) as the graph says
-- now: each base build in use (live images built on it, in how many
-- repositories), the tag that names it (one pointing at it or at an index
-- holding it now, else the one that did last) and, when that tag has moved
-- on, the build of the same platform it points at now. The fold calls it
-- after each batch; it writes only the rows that changed.
CREATE OR REPLACE FUNCTION layerq_refresh_base_builds() RETURNS void
LANGUAGE sql AS $$
    WITH builds AS (
        SELECT base_digest, sum(images)::bigint AS images, count(*)::bigint AS repositories
        FROM base_repositories WHERE images > 0 GROUP BY 1
    ),
    refs AS (
        SELECT base_digest, base_digest AS ref FROM builds
        UNION ALL
        SELECT b.base_digest, c.index_digest FROM builds b JOIN index_children c ON c.child_digest = b.base_digest
    ),
    tagged AS (
        -- Live tags pointing at the build (or an index holding it) now.
        SELECT DISTINCT ON (f.base_digest) f.base_digest, t.repository_id, t.name AS tag
        FROM refs f JOIN tags t ON t.manifest_digest = f.ref AND t.deleted_at IS NULL
        ORDER BY f.base_digest, t.updated_at DESC, t.name, t.repository_id
    ),
    last AS (
        -- Otherwise the tag that pointed at it last.
        SELECT DISTINCT ON (f.base_digest) f.base_digest, e.repository_id, e.tag
        FROM refs f JOIN tag_events e ON e.manifest_digest = f.ref AND e.action = 'push'
        WHERE NOT EXISTS (SELECT FROM tagged g WHERE g.base_digest = f.base_digest)
        ORDER BY f.base_digest, e.occurred_at DESC, e.id DESC
    ),
    named AS (
        SELECT base_digest, repository_id, tag, true AS current FROM tagged
        UNION ALL
        SELECT base_digest, repository_id, tag, false FROM last
    ),
    state AS (
        SELECT b.base_digest, b.images, b.repositories,
            coalesce(n.repository_id, (SELECT rm.repository_id FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
                                       WHERE rm.manifest_digest = b.base_digest
                                       ORDER BY rm.deleted_at IS NOT NULL, r.name, r.registry, rm.repository_id LIMIT 1)) AS base_repository_id,
            coalesce(n.tag, '') AS base_tag,
            CASE WHEN n.current THEN b.base_digest ELSE cur.image END AS current_digest,
            (NOT coalesce(n.current, true) AND cur.image IS NOT NULL AND cur.image <> b.base_digest) AS stale
        FROM builds b
        LEFT JOIN named n USING (base_digest)
        LEFT JOIN tags t ON NOT n.current AND t.repository_id = n.repository_id AND t.name = n.tag AND t.deleted_at IS NULL
        LEFT JOIN LATERAL (
            SELECT p.image FROM layerq_platform_images(t.manifest_digest) p
            JOIN manifests bm ON bm.digest = b.base_digest
            WHERE p.platform = layerq_platform(bm.os, bm.architecture, bm.variant)
        ) cur ON true
    ),
    gone AS (
        DELETE FROM base_build_rows k WHERE NOT EXISTS (SELECT FROM state n WHERE n.base_digest = k.base_digest)
    )
    INSERT INTO base_build_rows AS k (base_digest, images, repositories, base_repository_id, base_tag, current_digest, stale)
    SELECT base_digest, images, repositories, base_repository_id, base_tag, current_digest, stale FROM state
    ORDER BY base_digest
    ON CONFLICT (base_digest) DO UPDATE
    SET images = excluded.images, repositories = excluded.repositories, base_repository_id = excluded.base_repository_id,
        base_tag = excluded.base_tag, current_digest = excluded.current_digest, stale = excluded.stale
    WHERE (k.images, k.repositories, k.base_repository_id, k.base_tag, k.current_digest, k.stale)
          IS DISTINCT FROM (excluded.images, excluded.repositories, excluded.base_repository_id, excluded.base_tag, excluded.current_digest, excluded.stale);
$$;
-- +goose StatementEnd

SELECT layerq_refresh_base_builds();
ANALYZE base_build_rows;

CREATE OR REPLACE VIEW base_builds AS
SELECT base_digest, images, repositories, base_repository_id, base_tag, current_digest, stale FROM base_build_rows;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON base_build_rows FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- Tag deletes are queued too: the fold then works out the base builds'
-- names again.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_tag_events_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (tag_event_id)
    SELECT id FROM new_rows WHERE (action = 'push' AND manifest_digest IS NOT NULL) OR action = 'delete';
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);
CREATE OR REPLACE VIEW base_builds AS
WITH builds AS (
    SELECT base_digest, sum(images)::bigint AS images, count(*)::bigint AS repositories
    FROM base_repositories WHERE images > 0 GROUP BY 1
),
refs AS (
    SELECT base_digest, base_digest AS ref FROM builds
    UNION ALL
    SELECT b.base_digest, c.index_digest FROM builds b JOIN index_children c ON c.child_digest = b.base_digest
),
tagged AS (
    -- Live tags pointing at the build (or an index holding it) now.
    SELECT DISTINCT ON (f.base_digest) f.base_digest, t.repository_id, t.name AS tag
    FROM refs f JOIN tags t ON t.manifest_digest = f.ref AND t.deleted_at IS NULL
    ORDER BY f.base_digest, t.updated_at DESC, t.name
),
last AS (
    -- Otherwise the tag that pointed at it last.
    SELECT DISTINCT ON (f.base_digest) f.base_digest, e.repository_id, e.tag
    FROM refs f JOIN tag_events e ON e.manifest_digest = f.ref AND e.action = 'push'
    WHERE f.base_digest NOT IN (SELECT base_digest FROM tagged)
    ORDER BY f.base_digest, e.occurred_at DESC, e.id DESC
),
named AS (
    SELECT base_digest, repository_id, tag, true AS current FROM tagged
    UNION ALL
    SELECT base_digest, repository_id, tag, false FROM last
)
SELECT b.base_digest, b.images, b.repositories,
    coalesce(n.repository_id, (SELECT rm.repository_id FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
                               WHERE rm.manifest_digest = b.base_digest ORDER BY rm.deleted_at IS NOT NULL, r.name LIMIT 1)) AS base_repository_id,
    coalesce(n.tag, '') AS base_tag,
    CASE WHEN n.current THEN b.base_digest ELSE cur.image END AS current_digest,
    (NOT coalesce(n.current, true) AND cur.image IS NOT NULL AND cur.image <> b.base_digest) AS stale
FROM builds b
LEFT JOIN named n USING (base_digest)
LEFT JOIN tags t ON NOT n.current AND t.repository_id = n.repository_id AND t.name = n.tag AND t.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT p.image FROM layerq_platform_images(t.manifest_digest) p
    JOIN manifests bm ON bm.digest = b.base_digest
    WHERE p.platform = layerq_platform(bm.os, bm.architecture, bm.variant)
) cur ON true;
DROP FUNCTION layerq_refresh_base_builds();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_tag_events_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (tag_event_id)
    SELECT id FROM new_rows WHERE action = 'push' AND manifest_digest IS NOT NULL;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
DROP TABLE base_build_rows;
-- The fold takes nothing in until the release before gives it its body.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
