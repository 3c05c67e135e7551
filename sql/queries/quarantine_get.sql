-- name: QuarantineGet :many
-- One quarantined item by id, or by a unique prefix of it: the item whose
-- id is id first, and at most two rows (a second means the prefix is
-- ambiguous unless the first is an exact match).
SELECT id, source, registry, reason, detail, kind, data, header, received_at, seen, replayed_at,
    coalesce(replay_note, '') AS replay_note
FROM quarantine
WHERE id = @id OR id LIKE @id || '%'
ORDER BY id = @id DESC
LIMIT 2;
