-- Tags of a batch, sorted by (registry, name, tag). A tag that now points at a
-- new digest (or comes back after a delete) moves, and the move is recorded as
-- a tag event; a tag seen again unchanged writes nothing. An observation older
-- than the tag's last move does not move it back.
WITH input AS (
    SELECT r.id AS repository_id, t.tag, t.digest, t.observed_at, t.source, t.event_id
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
        AS t(registry, name, tag, digest, observed_at, source, event_id)
    JOIN repositories r ON r.registry = t.registry AND r.name = t.name
),
before AS (
    SELECT tg.repository_id, tg.name, tg.manifest_digest, tg.deleted_at
    FROM tags tg JOIN input i ON i.repository_id = tg.repository_id AND i.tag = tg.name
),
moved AS (
    INSERT INTO tags AS tg (repository_id, name, manifest_digest, updated_at)
    SELECT repository_id, tag, digest, observed_at FROM input
    ORDER BY repository_id, tag
    ON CONFLICT (repository_id, name) DO UPDATE
        SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at, deleted_at = NULL
        WHERE (tg.manifest_digest <> excluded.manifest_digest OR tg.deleted_at IS NOT NULL)
          AND tg.updated_at <= excluded.updated_at
    RETURNING tg.repository_id, tg.name, tg.manifest_digest
)
INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source, event_id)
SELECT m.repository_id, m.name, 'push', m.manifest_digest,
    CASE WHEN b.deleted_at IS NULL THEN b.manifest_digest END,
    i.observed_at, i.source, i.event_id
FROM moved m
JOIN input i ON i.repository_id = m.repository_id AND i.tag = m.name
LEFT JOIN before b ON b.repository_id = m.repository_id AND b.name = m.name
ON CONFLICT DO NOTHING
