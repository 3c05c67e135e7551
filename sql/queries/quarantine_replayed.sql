-- name: QuarantineReplayed :exec
-- Mark an item replayed ($2 true) or note why a replay left it ($2 false).
UPDATE quarantine
SET replayed_at = CASE WHEN $2 THEN now() END, replay_note = $3
WHERE id = $1;
