-- Indexes the reports read at registry scale.
--
-- repositories by name: top-shared names a few repositories holding each
-- content, the first by name. A content held by many repositories is
-- answered by walking the repositories in name order and stopping at the
-- fifth that holds it, instead of reading every repository that does and
-- sorting them.
--
-- repository_contents' key holds each row's images: `top-shared --repo`
-- sums the matching repositories' rows from the index alone.
--
-- `cache --since` reads the builds compared in its window from an index
-- that holds what it sums (the rows of a window lie all over the table),
-- and counts the builds pushed in it from the pushes by time.

-- +goose Up
CREATE INDEX repositories_name_idx ON repositories (name);
ALTER TABLE repository_contents DROP CONSTRAINT repository_contents_pkey,
    ADD PRIMARY KEY (repository_id, content) INCLUDE (images);
CREATE INDEX cache_transitions_window_idx ON cache_transitions (occurred_at)
    INCLUDE (repository_id, stream_kind, reused_layers, total_layers, reused_bytes, total_bytes, step, first_changed_position);
DROP INDEX cache_transitions_at_idx;
CREATE INDEX tag_events_pushed_idx ON tag_events (occurred_at) WHERE action = 'push';

-- +goose Down
DROP INDEX tag_events_pushed_idx;
CREATE INDEX cache_transitions_at_idx ON cache_transitions (occurred_at);
DROP INDEX cache_transitions_window_idx;
ALTER TABLE repository_contents DROP CONSTRAINT repository_contents_pkey,
    ADD PRIMARY KEY (repository_id, content);
DROP INDEX repositories_name_idx;
