-- `layerq bases` at a million images: each base's dependents kept.
--
-- The report summed, for every base (a tag naming base builds), the live
-- images of each dependent repository over the base's builds, from every
-- row of base_repositories (35,000 at 1M images, 10,000 (base,
-- repository) pairs), then ranked them all to list the top ones. The
-- statement triggers of base_repositories and base_build_rows now keep
-- those sums in base_dependents (sql/functions/bases.sql says how); the
-- report reads each base's top dependents from an index and counts the
-- rest as integers.

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);

CREATE TABLE base_dependents (
    base_repository_id bigint NOT NULL, -- the base: base_build_rows' repository and tag
    base_tag           text NOT NULL,
    repository_id      bigint NOT NULL, -- a repository with images on the base's builds
    images             bigint NOT NULL, -- its live images on them
    stale_images       bigint NOT NULL, -- of those, the ones on builds the tag has moved away from
    PRIMARY KEY (base_repository_id, base_tag, repository_id)
);
CREATE INDEX base_dependents_top_idx ON base_dependents (base_repository_id, base_tag, images DESC) INCLUDE (repository_id, stale_images);

INSERT INTO base_dependents (base_repository_id, base_tag, repository_id, images, stale_images)
SELECT k.base_repository_id, k.base_tag, br.repository_id, sum(br.images)::bigint, coalesce(sum(br.images) FILTER (WHERE k.stale), 0)::bigint
FROM base_build_rows k JOIN base_repositories br ON br.base_digest = k.base_digest
WHERE k.base_repository_id IS NOT NULL
GROUP BY 1, 2, 3 HAVING sum(br.images) <> 0
ORDER BY 1, 2, 3;
ANALYZE base_dependents;

-- +goose StatementBegin
-- base_dependents: each base's (a tag, base_build_rows' base_repository_id
-- and base_tag) live images per dependent repository, summed over its
-- builds in use, and those on its stale builds. Two statement triggers
-- keep it: a change of base_repositories counts under the build's base as
-- base_build_rows names it then (nothing for a build it does not hold), and
-- a change of base_build_rows (a build in use or no longer, renamed, gone
-- stale) moves the build's counts as base_repositories holds them then
-- from its old base to its new one. Each build's share of a base is thus
-- always its counts now. Rows that fall to 0 stay (readers ask for
-- images > 0), as in base_repositories.

-- Add changes of (base, dependent repository) counts to base_dependents,
-- one row per key: what both triggers below work out.
CREATE OR REPLACE FUNCTION layerq_add_base_dependents(p_base bigint[], p_tag text[], p_repo bigint[], p_images bigint[], p_stale bigint[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO base_dependents AS t (base_repository_id, base_tag, repository_id, images, stale_images)
    SELECT b, g, r, i, s FROM unnest(p_base, p_tag, p_repo, p_images, p_stale) AS u(b, g, r, i, s)
    ORDER BY 1, 2, 3
    ON CONFLICT (base_repository_id, base_tag, repository_id) DO UPDATE
    SET images = t.images + excluded.images, stale_images = t.stale_images + excluded.stale_images;
$$;

CREATE OR REPLACE FUNCTION layerq_base_counts_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b text[]; r bigint[]; d bigint[];
BEGIN
    -- A trigger's function reads only the transition tables its event has.
    IF TG_OP <> 'DELETE' THEN
        SELECT array_agg(base_digest), array_agg(repository_id), array_agg(images::bigint) INTO b, r, d FROM new_rows;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT b || array_agg(base_digest), r || array_agg(repository_id), d || array_agg(-images::bigint) INTO b, r, d FROM old_rows;
    END IF;
    PERFORM layerq_add_base_dependents(array_agg(x.base), array_agg(x.tag), array_agg(x.repo), array_agg(x.images), array_agg(x.stale))
    FROM (
        SELECT k.base_repository_id AS base, k.base_tag AS tag, c.repository_id AS repo, sum(c.d)::bigint AS images,
            coalesce(sum(c.d) FILTER (WHERE k.stale), 0)::bigint AS stale
        FROM unnest(b, r, d) AS c(base_digest, repository_id, d)
        JOIN base_build_rows k ON k.base_digest = c.base_digest AND k.base_repository_id IS NOT NULL
        GROUP BY 1, 2, 3 HAVING sum(c.d) <> 0 OR sum(c.d) FILTER (WHERE k.stale) <> 0
    ) x;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION layerq_base_builds_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b text[]; r bigint[]; g text[]; s boolean[]; n integer[];
BEGIN
    IF TG_OP <> 'DELETE' THEN
        SELECT array_agg(base_digest), array_agg(base_repository_id), array_agg(base_tag), array_agg(stale), array_agg(1)
        INTO b, r, g, s, n FROM new_rows;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT b || array_agg(base_digest), r || array_agg(base_repository_id), g || array_agg(base_tag), s || array_agg(stale), n || array_agg(-1)
        INTO b, r, g, s, n FROM old_rows;
    END IF;
    PERFORM layerq_add_base_dependents(array_agg(x.base), array_agg(x.tag), array_agg(x.repo), array_agg(x.images), array_agg(x.stale))
    FROM (
        SELECT c.base_repository_id AS base, c.base_tag AS tag, br.repository_id AS repo, sum(c.sign * br.images)::bigint AS images,
            coalesce(sum(c.sign * br.images) FILTER (WHERE c.stale), 0)::bigint AS stale
        FROM unnest(b, r, g, s, n) AS c(base_digest, base_repository_id, base_tag, stale, sign)
        JOIN base_repositories br ON br.base_digest = c.base_digest
        WHERE c.base_repository_id IS NOT NULL
        GROUP BY 1, 2, 3 HAVING sum(c.sign * br.images) <> 0 OR sum(c.sign * br.images) FILTER (WHERE c.stale) <> 0
    ) x;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER base_repositories_inserted AFTER INSERT ON base_repositories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_base_counts_changed();
CREATE TRIGGER base_repositories_updated AFTER UPDATE ON base_repositories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_base_counts_changed();
CREATE TRIGGER base_repositories_deleted AFTER DELETE ON base_repositories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_base_counts_changed();
CREATE TRIGGER base_build_rows_inserted AFTER INSERT ON base_build_rows
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_base_builds_changed();
CREATE TRIGGER base_build_rows_updated AFTER UPDATE ON base_build_rows
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_base_builds_changed();
CREATE TRIGGER base_build_rows_deleted AFTER DELETE ON base_build_rows
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_base_builds_changed();

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON base_dependents FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
SELECT pg_advisory_xact_lock(27761, 1);
DROP TRIGGER base_repositories_inserted ON base_repositories;
DROP TRIGGER base_repositories_updated ON base_repositories;
DROP TRIGGER base_repositories_deleted ON base_repositories;
DROP TRIGGER base_build_rows_inserted ON base_build_rows;
DROP TRIGGER base_build_rows_updated ON base_build_rows;
DROP TRIGGER base_build_rows_deleted ON base_build_rows;
DROP FUNCTION layerq_base_counts_changed();
DROP FUNCTION layerq_base_builds_changed();
DROP FUNCTION layerq_add_base_dependents(bigint[], text[], bigint[], bigint[], bigint[]);
DROP TABLE base_dependents;
