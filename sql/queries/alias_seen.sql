-- name: AliasSeen :one
-- A host an event named for a registry; true when it is seen the first time.
INSERT INTO registry_aliases AS a (registry, host)
VALUES (@registry, @host)
ON CONFLICT (registry, host) DO UPDATE SET last_seen = now(), events = a.events + 1
RETURNING events = 1 AS first;
