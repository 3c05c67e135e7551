-- `layerq cache --since 30d` at a million images: the busters' repositories
-- per day.
--
-- A step's repositories in the window are those whose last bust of it
-- (cache_step_last) is in the window. The report counted them from every
-- row: at 1,000,000 images 42,860 of 66,948 rows are in a 30-day window,
-- grouped by their step's text, 20–30 ms of the report's 106 ms of
-- server time. cache_step_last_days keeps how many repositories' last
-- bust of each step falls on each day (UTC), moved by triggers on
-- cache_step_last, whoever writes it; the report sums the window's whole
-- days from it and counts the rows of its first, partial day from
-- cache_step_last's index on last_at.

-- +goose Up
SELECT pg_advisory_xact_lock(27761, 1);
LOCK TABLE cache_step_last IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE cache_step_last_days (
    step         text    NOT NULL,
    base_changed boolean NOT NULL,
    day          date    NOT NULL, -- UTC
    repositories bigint  NOT NULL, -- repositories whose last bust of the step is that day
    PRIMARY KEY (step, base_changed, day)
);
CREATE INDEX cache_step_last_days_day_idx ON cache_step_last_days (day) INCLUDE (step, base_changed, repositories);

INSERT INTO cache_step_last_days (step, base_changed, day, repositories)
SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date, count(*)
FROM cache_step_last
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
ANALYZE cache_step_last_days;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_cache_step_last_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cache_step_last_days AS t (step, base_changed, day, repositories)
        SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date, count(*)
        FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET repositories = t.repositories + excluded.repositories;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO cache_step_last_days AS t (step, base_changed, day, repositories)
        SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date, -count(*)
        FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET repositories = t.repositories + excluded.repositories;
    ELSE
        INSERT INTO cache_step_last_days AS t (step, base_changed, day, repositories)
        SELECT step, base_changed, day, sum(n) FROM (
            SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date AS day, 1 AS n FROM new_rows
            UNION ALL
            SELECT step, base_changed, (last_at AT TIME ZONE 'UTC')::date, -1 FROM old_rows
        ) u
        GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (step, base_changed, day) DO UPDATE SET repositories = t.repositories + excluded.repositories;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER cache_step_last_inserted AFTER INSERT ON cache_step_last
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_step_last_changed();
CREATE TRIGGER cache_step_last_deleted AFTER DELETE ON cache_step_last
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_step_last_changed();
CREATE TRIGGER cache_step_last_updated AFTER UPDATE ON cache_step_last
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_step_last_changed();

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE INSERT, UPDATE, DELETE ON cache_step_last_days FROM layerq_writer;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER cache_step_last_inserted ON cache_step_last;
DROP TRIGGER cache_step_last_deleted ON cache_step_last;
DROP TRIGGER cache_step_last_updated ON cache_step_last;
DROP FUNCTION layerq_cache_step_last_changed();
DROP TABLE cache_step_last_days;
