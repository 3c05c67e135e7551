-- The cache report's streams: one platform each, and the builds they hold.
--
-- A stream orders builds of one platform, each compared with the build
-- before it. The created streams took an image's platform from its config
-- (manifests.os, architecture, variant). A cross-build may carry the
-- platform its builder ran on in its config (an arm64 image whose config
-- says amd64), so two children of one index, pushed once, fell into one
-- stream and were compared as if one had been rebuilt into the other. An
-- image that an index of its repository lists now has the platform that
-- index declares for it (index_children), in the created streams and in the
-- tag streams; an image pushed on its own keeps its config's platform
-- (cache_build_platforms). An index that arrives after its children
-- (webhooks report each manifest, children first) moves them to its
-- platforms: layerq_extend_created_streams now puts every stream a new
-- membership touches right, rather than only linking new builds in.
--
-- cache_builds counts the builds the streams hold, per repository and kind
-- of stream, beside the comparisons the rollups count (cache_totals.pushes
-- is builds compared with the one before them, N - 1 for a stream of N):
-- every push of a tag, per platform, for tag streams; every image for
-- created streams. Tag events of a tag's first push (no previous digest) are
-- queued now too, to be counted.
--
-- Up rebuilds the tag and created streams and the build counts from the
-- graph. Down restores the functions of 00003 and keeps the transitions as
-- Up left them (streams of one platform each, which the old functions go on
-- extending).

-- +goose Up
-- Writers wait until the streams are rebuilt: what the rebuild reads is then
-- everything the graph holds, and nothing is both rebuilt and queued.
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;
-- Fold what is queued first, with the functions as they were (as the one
-- applier: the fold's advisory lock, held to the end of the migration);
-- the rebuild below starts from there.
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE cache_builds (
    repository_id bigint NOT NULL,
    stream_kind   text NOT NULL CHECK (stream_kind IN ('tag', 'created')),
    builds        bigint NOT NULL,
    PRIMARY KEY (repository_id, stream_kind)
);

-- Each image build of a repository with the platform its streams file it
-- under: what the first index of the repository listing it declares for it,
-- else its config's platform; and when it was built (a date before 1980,
-- as reproducible builders stamp, is no date: when layerq first saw it).
CREATE VIEW cache_build_platforms AS
SELECT rm.repository_id, m.digest AS image,
    coalesce(ix.platform, layerq_platform(m.os, m.architecture, m.variant)) AS platform,
    layerq_platform(m.os, m.architecture, m.variant) AS config_platform,
    CASE WHEN m.created >= '1980-01-01' THEN m.created ELSE rm.first_seen END AS built_at
FROM repository_manifests rm
JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
LEFT JOIN LATERAL (
    SELECT layerq_platform(c.os, c.architecture, c.variant) AS platform
    FROM index_children c
    JOIN repository_manifests ri ON ri.repository_id = rm.repository_id AND ri.manifest_digest = c.index_digest
    WHERE c.child_digest = m.digest AND c.architecture IS NOT NULL AND coalesce(c.os, '') <> 'unknown'
    ORDER BY ri.first_seen, c.index_digest, c.position
    LIMIT 1
) ix ON true;

-- The image builds a digest pushed to repository p_repo stands for, per
-- platform: an image itself (as cache_build_platforms files it), or an
-- index's image children with the platforms the index declares
-- (attestations, platform unknown, left out).
-- +goose StatementBegin
CREATE FUNCTION layerq_stream_images(p_repo bigint, p_digest text) RETURNS TABLE (platform text, image text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (platform) platform, image FROM (
        SELECT b.platform, b.image, -1 AS position
        FROM cache_build_platforms b WHERE b.repository_id = p_repo AND b.image = p_digest
        UNION ALL
        SELECT layerq_platform(c.os, c.architecture, c.variant), c.child_digest, c.position
        FROM index_children c JOIN manifests m ON m.digest = c.child_digest AND m.kind = 'image' AND m.layer_count > 0
        WHERE c.index_digest = p_digest AND coalesce(c.os, '') <> 'unknown'
    ) x ORDER BY platform, position
$$;
-- +goose StatementEnd

-- New memberships (repository p_repo[i] holds manifest p_manifest[i] for the
-- first time; called once per membership) count their images as builds of
-- the created streams and put right every created stream they touch: those
-- of new images, and of the images of new indexes, under each platform such
-- an image has or had in its repository (its config's, and those its
-- repository's indexes declare). Such a stream becomes its builds in
-- order, each with the build before it: transitions no longer so are
-- deleted, missing ones compared and added.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_extend_created_streams(p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    s_repo bigint[]; s_platform text[];
    gone bigint[];
    o_repo bigint[]; o_platform text[]; o_digest text[]; o_prev text[]; o_at timestamptz[];
BEGIN
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT u.r, 'created', count(DISTINCT u.m)
    FROM unnest(p_repo, p_manifest) AS u(r, m)
    JOIN manifests m ON m.digest = u.m AND m.kind = 'image' AND m.layer_count > 0
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (repository_id, stream_kind) DO UPDATE SET builds = t.builds + excluded.builds;

    WITH new AS (
        SELECT DISTINCT u.r AS repository_id, u.m AS digest FROM unnest(p_repo, p_manifest) AS u(r, m)
    ),
    touched AS (
        SELECT n.repository_id, n.digest AS image FROM new n
        UNION
        SELECT n.repository_id, c.child_digest FROM new n JOIN index_children c ON c.index_digest = n.digest
    ),
    platforms AS (
        SELECT t.repository_id, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM touched t JOIN manifests m ON m.digest = t.image AND m.kind = 'image' AND m.layer_count > 0
        UNION
        SELECT t.repository_id, layerq_platform(c.os, c.architecture, c.variant)
        FROM touched t
        JOIN manifests m ON m.digest = t.image AND m.kind = 'image' AND m.layer_count > 0
        JOIN index_children c ON c.child_digest = t.image AND c.architecture IS NOT NULL AND coalesce(c.os, '') <> 'unknown'
        JOIN repository_manifests ri ON ri.repository_id = t.repository_id AND ri.manifest_digest = c.index_digest
    )
    SELECT array_agg(repository_id ORDER BY repository_id, platform), array_agg(platform ORDER BY repository_id, platform)
    INTO s_repo, s_platform
    FROM platforms;

    IF s_repo IS NULL THEN
        RETURN;
    END IF;

    WITH s AS (
        SELECT * FROM unnest(s_repo, s_platform) AS s(repository_id, platform)
    ),
    members AS (
        SELECT b.repository_id, b.platform, b.image, b.built_at
        FROM cache_build_platforms b
        JOIN s USING (repository_id, platform)
        WHERE b.repository_id = ANY (s_repo)
    ),
    pairs AS MATERIALIZED (
        SELECT * FROM (
            SELECT repository_id, platform, lag(image) OVER w AS prev, image AS digest, built_at AS at
            FROM members
            WINDOW w AS (PARTITION BY repository_id, platform ORDER BY built_at, image)
        ) x WHERE prev IS NOT NULL
    ),
    have AS MATERIALIZED (
        SELECT ct.id, ct.repository_id, ct.platform, ct.from_digest, ct.to_digest
        FROM cache_transitions ct
        JOIN s ON ct.repository_id = s.repository_id AND ct.platform = s.platform
        WHERE ct.stream_kind = 'created'
    ),
    missing AS (
        SELECT p.* FROM pairs p
        WHERE NOT EXISTS (SELECT 1 FROM have h WHERE h.repository_id = p.repository_id AND h.platform = p.platform
                            AND h.from_digest = p.prev AND h.to_digest = p.digest)
    )
    SELECT (SELECT array_agg(h.id ORDER BY h.id) FROM have h
            WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.repository_id = h.repository_id AND p.platform = h.platform
                                AND p.prev = h.from_digest AND p.digest = h.to_digest)),
        (SELECT array_agg(repository_id ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(platform ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(digest ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(prev ORDER BY repository_id, platform, prev) FROM missing),
        (SELECT array_agg(at ORDER BY repository_id, platform, prev) FROM missing)
    INTO gone, o_repo, o_platform, o_digest, o_prev, o_at;

    IF gone IS NOT NULL THEN
        DELETE FROM cache_transitions WHERE id = ANY (gone);
    END IF;
    IF o_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at,
        reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT o.repository_id, 'created', '', o.platform, o.prev, o.digest, o.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(o_repo, o_platform, o_digest, o_prev, o_at) AS o(repository_id, platform, digest, prev, at)
    JOIN layerq_compare_pairs(o_prev, o_digest) c ON c.from_digest = o.prev AND c.to_digest = o.digest
    ORDER BY o.repository_id, o.platform, o.prev;
END;
$$;
-- +goose StatementEnd

-- Tag pushes (tag events p_ids) count as builds of their tag's streams, one
-- per platform the pushed digest has; a move (a push over another digest)
-- becomes a transition per platform both sides have.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_add_tag_transitions(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    e_repo bigint[]; e_tag text[]; e_id bigint[]; e_at timestamptz[]; e_platform text[]; e_from text[]; e_to text[];
BEGIN
    INSERT INTO cache_builds AS t (repository_id, stream_kind, builds)
    SELECT e.repository_id, 'tag', count(*)
    FROM tag_events e
    CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) i
    WHERE e.id = ANY (p_ids) AND e.action = 'push'
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (repository_id, stream_kind) DO UPDATE SET builds = t.builds + excluded.builds;

    SELECT array_agg(x.repository_id ORDER BY x.id, x.platform), array_agg(x.tag ORDER BY x.id, x.platform),
        array_agg(x.id ORDER BY x.id, x.platform), array_agg(x.occurred_at ORDER BY x.id, x.platform),
        array_agg(x.platform ORDER BY x.id, x.platform), array_agg(x.from_image ORDER BY x.id, x.platform),
        array_agg(x.to_image ORDER BY x.id, x.platform)
    INTO e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to
    FROM (
        SELECT e.repository_id, e.tag, e.id, e.occurred_at, t.platform, f.image AS from_image, t.image AS to_image
        FROM tag_events e
        CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) t
        JOIN LATERAL layerq_stream_images(e.repository_id, e.previous_digest) f ON f.platform = t.platform
        WHERE e.id = ANY (p_ids) AND e.action = 'push' AND e.previous_digest IS NOT NULL
          AND e.previous_digest <> e.manifest_digest
    ) x;
    IF e_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, tag_event_id, from_digest, to_digest,
        occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT u.repository_id, 'tag', u.tag, u.platform, u.id, u.f, u.t, u.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to) AS u(repository_id, tag, id, at, platform, f, t)
    JOIN layerq_compare_pairs(e_from, e_to) c ON c.from_digest = u.f AND c.to_digest = u.t
    ORDER BY u.id, u.platform
    ON CONFLICT DO NOTHING;
END;
$$;
-- +goose StatementEnd

-- Every tag push is queued: a move to be compared, and a build to count.
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

-- Rebuild the streams from the graph: every tag push counted and every tag
-- move compared again with the platforms above (which also counts the tag
-- builds), then every created stream put right (which counts the images).
DELETE FROM cache_transitions WHERE stream_kind = 'tag';
SELECT layerq_add_tag_transitions(array_agg(id ORDER BY id)) FROM tag_events WHERE action = 'push';
-- A repository whose tag moves compare no platform any more (a tag moved
-- between builds its index files under different platforms) shows its
-- created streams.
DELETE FROM cache_tagged_repositories x
WHERE NOT EXISTS (SELECT 1 FROM cache_transitions t WHERE t.repository_id = x.repository_id AND t.stream_kind = 'tag');
SELECT layerq_extend_created_streams(array_agg(repository_id ORDER BY repository_id, manifest_digest),
    array_agg(manifest_digest ORDER BY repository_id, manifest_digest))
FROM repository_manifests;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON cache_builds FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- The functions of 00003; the transitions stay as Up left them.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_tag_events_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (tag_event_id)
    SELECT id FROM new_rows
    WHERE action = 'push' AND previous_digest IS NOT NULL AND previous_digest <> manifest_digest;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_add_tag_transitions(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    e_repo bigint[]; e_tag text[]; e_id bigint[]; e_at timestamptz[]; e_platform text[]; e_from text[]; e_to text[];
BEGIN
    SELECT array_agg(x.repository_id ORDER BY x.id, x.platform), array_agg(x.tag ORDER BY x.id, x.platform),
        array_agg(x.id ORDER BY x.id, x.platform), array_agg(x.occurred_at ORDER BY x.id, x.platform),
        array_agg(x.platform ORDER BY x.id, x.platform), array_agg(x.from_image ORDER BY x.id, x.platform),
        array_agg(x.to_image ORDER BY x.id, x.platform)
    INTO e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to
    FROM (
        SELECT e.repository_id, e.tag, e.id, e.occurred_at, t.platform, f.image AS from_image, t.image AS to_image
        FROM tag_events e
        CROSS JOIN LATERAL layerq_platform_images(e.manifest_digest) t
        JOIN LATERAL layerq_platform_images(e.previous_digest) f ON f.platform = t.platform
        WHERE e.id = ANY (p_ids) AND e.action = 'push' AND e.previous_digest IS NOT NULL
          AND e.previous_digest <> e.manifest_digest
    ) x;
    IF e_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, tag_event_id, from_digest, to_digest,
        occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT u.repository_id, 'tag', u.tag, u.platform, u.id, u.f, u.t, u.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to) AS u(repository_id, tag, id, at, platform, f, t)
    JOIN layerq_compare_pairs(e_from, e_to) c ON c.from_digest = u.f AND c.to_digest = u.t
    ORDER BY u.id, u.platform
    ON CONFLICT DO NOTHING;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_extend_created_streams(p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    o_repo bigint[]; o_platform text[]; o_digest text[]; o_prev text[]; o_at timestamptz[];
    a_repo bigint[]; a_platform text[]; a_digest text[];
BEGIN
    -- The streams the new builds join, in order, each build with the one
    -- before it; and the anchors: each new build and the build before it,
    -- whose outgoing transitions are the ones that change.
    WITH new AS (
        SELECT DISTINCT u.r AS repository_id, u.m AS manifest_digest, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM unnest(p_repo, p_manifest) AS u(r, m)
        JOIN manifests m ON m.digest = u.m AND m.kind = 'image' AND m.layer_count > 0
    ),
    streams AS (SELECT DISTINCT repository_id, platform FROM new),
    members AS (
        -- A build dated before 1980 (reproducible builders stamp 1970) has
        -- no real date: it is placed when layerq first saw it.
        SELECT rm.repository_id, s.platform, rm.manifest_digest,
            CASE WHEN m.created >= '1980-01-01' THEN m.created ELSE rm.first_seen END AS at
        FROM streams s
        JOIN repository_manifests rm ON rm.repository_id = s.repository_id
        JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
            AND layerq_platform(m.os, m.architecture, m.variant) = s.platform
    ),
    marked AS (
        SELECT mb.repository_id, mb.platform, mb.manifest_digest, mb.at, n.manifest_digest IS NOT NULL AS is_new
        FROM members mb
        LEFT JOIN new n USING (repository_id, platform, manifest_digest)
    ),
    ordered AS (
        SELECT m.*,
            lag(m.manifest_digest) OVER w AS prev,
            coalesce(lag(m.is_new) OVER w, false) AS prev_is_new
        FROM marked m
        WINDOW w AS (PARTITION BY m.repository_id, m.platform ORDER BY m.at, m.manifest_digest)
    ),
    anchors AS (
        SELECT repository_id, platform, manifest_digest AS digest FROM ordered WHERE is_new
        UNION
        SELECT repository_id, platform, prev FROM ordered WHERE is_new AND prev IS NOT NULL
    ),
    -- The pairs out of an anchor: a build whose predecessor is new, or
    -- which is new itself (its predecessor is then an anchor).
    pairs AS (
        SELECT * FROM ordered WHERE prev IS NOT NULL AND (is_new OR prev_is_new)
    )
    SELECT (SELECT array_agg(repository_id ORDER BY repository_id, platform, digest) FROM anchors),
        (SELECT array_agg(platform ORDER BY repository_id, platform, digest) FROM anchors),
        (SELECT array_agg(digest ORDER BY repository_id, platform, digest) FROM anchors),
        (SELECT array_agg(repository_id ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(platform ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(manifest_digest ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(prev ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(at ORDER BY repository_id, platform, prev) FROM pairs)
    INTO a_repo, a_platform, a_digest, o_repo, o_platform, o_digest, o_prev, o_at;

    IF a_repo IS NULL THEN
        RETURN;
    END IF;

    DELETE FROM cache_transitions ct
    USING unnest(a_repo, a_platform, a_digest) AS a(repository_id, platform, digest)
    WHERE ct.stream_kind = 'created' AND ct.repository_id = a.repository_id
      AND ct.platform = a.platform AND ct.from_digest = a.digest;

    IF o_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at,
        reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT o.repository_id, 'created', '', o.platform, o.prev, o.digest, o.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(o_repo, o_platform, o_digest, o_prev, o_at) AS o(repository_id, platform, digest, prev, at)
    JOIN layerq_compare_pairs(o_prev, o_digest) c ON c.from_digest = o.prev AND c.to_digest = o.digest
    ORDER BY o.repository_id, o.platform, o.prev;
END;
$$;
-- +goose StatementEnd

DROP FUNCTION layerq_stream_images(bigint, text);
DROP VIEW cache_build_platforms;
DROP TABLE cache_builds;
