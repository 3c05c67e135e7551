-- name: QuarantineList :many
-- Quarantined items, oldest first; $1: include replayed ones.
SELECT id, source, registry, reason, detail, kind, data, header, received_at, seen, replayed_at, coalesce(replay_note, '')
FROM quarantine
WHERE $1 OR replayed_at IS NULL
ORDER BY received_at, id;
