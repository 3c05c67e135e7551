-- Statement triggers on repository_manifests and tag_events (created in
-- migration 00003) append what changed to aggregate_queue.

CREATE OR REPLACE FUNCTION layerq_memberships_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (repository_id, manifest_digest, delta, inserted)
    SELECT repository_id, manifest_digest, CASE WHEN deleted_at IS NULL THEN 1 END, true FROM new_rows;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION layerq_memberships_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (repository_id, manifest_digest, delta)
    SELECT n.repository_id, n.manifest_digest, CASE WHEN n.deleted_at IS NULL THEN 1 ELSE -1 END
    FROM new_rows n JOIN old_rows o USING (repository_id, manifest_digest)
    WHERE (n.deleted_at IS NULL) <> (o.deleted_at IS NULL);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION layerq_memberships_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (repository_id, manifest_digest, delta)
    SELECT repository_id, manifest_digest, -1 FROM old_rows WHERE deleted_at IS NULL;
    RETURN NULL;
END;
$$;

-- Every tag push is queued: a move to be compared, and a build to count;
-- and every tag delete: a base build's name and staleness follow its tags
-- (base_build_rows).
CREATE OR REPLACE FUNCTION layerq_tag_events_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (tag_event_id)
    SELECT id FROM new_rows WHERE (action = 'push' AND manifest_digest IS NOT NULL) OR action = 'delete';
    RETURN NULL;
END;
$$;
