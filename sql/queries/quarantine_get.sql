-- name: QuarantineGet :many
-- One quarantined item by id, or by a unique prefix of it.
SELECT id, source, registry, reason, detail, kind, data, header, received_at, seen, replayed_at, coalesce(replay_note, '')
FROM quarantine
WHERE id = $1 OR id LIKE $1 || '%'
ORDER BY id = $1 DESC
LIMIT 2;
