-- name: QuarantineList :many
-- Quarantined items, oldest first; the replayed ones too when
-- include_replayed.
SELECT id, source, registry, reason, detail, kind, data, header, received_at, seen, replayed_at,
    coalesce(replay_note, '') AS replay_note
FROM quarantine
WHERE @include_replayed::boolean OR replayed_at IS NULL
ORDER BY received_at, id;
