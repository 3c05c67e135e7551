-- name: QuarantineReplayed :exec
-- Mark an item replayed (done true) or note why a replay left it (done
-- false); note is what the replay did.
UPDATE quarantine
SET replayed_at = CASE WHEN @done::boolean THEN now() END, replay_note = @note::text
WHERE id = @id;
