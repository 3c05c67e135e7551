-- name: StandbyLag :one
-- How far a standby is behind its primary, in seconds: 0 when it has
-- replayed all it received, else the time since the primary committed the
-- last transaction it replayed.
SELECT CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8 AS seconds;
