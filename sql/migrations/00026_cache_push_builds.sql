-- `layerq cache --since` at a million images.
--
-- A window's builds (each tag push, per platform its digest has) were
-- counted by joining the window's pushes to manifests and index_children:
-- 117,000 pushes in 30 days at 1M images, looked up one by one, about half
-- of the report's 1.4 s. cache_push_builds keeps each push's builds as the
-- fold counts them into cache_builds (layerq_stream_images, when the fold
-- takes the tag event in), with the push's time and repository, so a
-- window sums an index's range.
--
-- The migration folds what is queued first, with the functions as they
-- are, and counts every push tag_events holds: those still queued too,
-- when an earlier migration of the same run left the fold a stub (the
-- fold, taking them in later, keeps the count the migration wrote: ON
-- CONFLICT DO NOTHING). The fold becomes a stub that takes nothing in
-- until the function files give it its body again (a fold in between, by
-- a process of the previous release, would count pushes without keeping
-- them here).

-- +goose Up
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock(27761, 1);
SELECT layerq_apply_queue();

CREATE TABLE cache_push_builds (
    tag_event_id  bigint PRIMARY KEY, -- a push (tag_events, which are never deleted)
    repository_id bigint NOT NULL,
    occurred_at   timestamptz NOT NULL,
    builds        integer NOT NULL    -- the platforms its digest stands for (pushes with none are not kept)
);

INSERT INTO cache_push_builds (tag_event_id, repository_id, occurred_at, builds)
SELECT e.id, e.repository_id, e.occurred_at, count(*)
FROM tag_events e
CROSS JOIN LATERAL layerq_stream_images(e.repository_id, e.manifest_digest) i
WHERE e.action = 'push'
GROUP BY e.id
ORDER BY e.id;

CREATE INDEX cache_push_builds_at_idx ON cache_push_builds (occurred_at) INCLUDE (repository_id, builds);
ANALYZE cache_push_builds;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON cache_push_builds FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd

-- +goose Down
-- layerq_add_tag_transitions as it was before (it writes no
-- cache_push_builds); the fold takes nothing in until the release before
-- gives it its body again.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$;
-- +goose StatementEnd
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
        occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step,
        from_bytes, base_from, base_to, base_moved)
    SELECT u.repository_id, 'tag', u.tag, u.platform, u.id, u.f, u.t, u.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step,
        c.from_bytes, m.base_from, m.base_to, m.base_moved
    FROM unnest(e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to) AS u(repository_id, tag, id, at, platform, f, t)
    JOIN layerq_compare_pairs(e_from, e_to) c ON c.from_digest = u.f AND c.to_digest = u.t
    CROSS JOIN LATERAL layerq_base_move(u.f, u.t, c.first_changed_position) m
    ORDER BY u.id, u.platform
    ON CONFLICT DO NOTHING;
END;
$$;
-- +goose StatementEnd
DROP TABLE cache_push_builds;
