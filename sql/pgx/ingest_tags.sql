-- Tags of a batch, sorted by (registry, name, tag), all observed by one
-- source ($6) in one registry event ($7, NULL for none). A tag that now points
-- at a new digest (or comes back after a delete) moves, and the move is
-- recorded as a tag event; a tag seen again unchanged writes nothing. An
-- observation older than the tag's last move does not move it back.
--
-- The upsert locks each existing tag it meets and decides on its latest
-- version, in key order (so concurrent batches lock in one order); the event
-- takes the previous digest from that same version, which the push keeps in
-- tags.previous_digest.
WITH moved AS (
    INSERT INTO tags AS tg (repository_id, name, manifest_digest, updated_at)
    SELECT r.id, t.tag, t.digest, t.observed_at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
        AS t(registry, name, tag, digest, observed_at)
    JOIN repositories r ON r.registry = t.registry AND r.name = t.name
    ORDER BY r.id, t.tag
    ON CONFLICT (repository_id, name) DO UPDATE
        SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at, deleted_at = NULL,
            previous_digest = CASE WHEN tg.deleted_at IS NULL THEN tg.manifest_digest END
        WHERE (tg.manifest_digest <> excluded.manifest_digest OR tg.deleted_at IS NOT NULL)
          AND tg.updated_at <= excluded.updated_at
    RETURNING tg.repository_id, tg.name, tg.manifest_digest, tg.previous_digest, tg.updated_at
)
INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
SELECT repository_id, name, 'push', manifest_digest, previous_digest, updated_at, $6::text, $7::text
FROM moved
ON CONFLICT DO NOTHING
