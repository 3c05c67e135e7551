-- Alerts out: a base tag moved (the images built on its old build are now
-- stale), and a push grew its image over a threshold.
--
-- Both are read off the comparisons the fold inserts (cache_transitions):
-- a tag move is one comparison per platform, inserted by the fold, one fold
-- at a time, so their ids only grow as they commit and a cursor past the
-- last one looked at misses none. The detector (internal/alert) advances
-- alert_cursor and writes each alert once, by a key made of what it is
-- about (the tag event and platform, or the two builds compared), in one
-- transaction: a comparison re-inserted (a created stream rebuilt) or a
-- registry event delivered again makes no second alert.
--
-- Each alert is then delivered to every sink configured when it was made
-- (NATS, webhooks): alert_deliveries records each send, its attempts and
-- when to try again. A send whose record was lost (the process died in
-- between) is sent again with the same alert id; JetStream's duplicate
-- window and the receivers' webhook-id drop it.

-- +goose Up
CREATE TABLE alert_cursor (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    transition_id bigint NOT NULL  -- the last cache_transitions.id looked at
);
CREATE TABLE alerts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key        text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('base_moved', 'image_grew')),
    created_at timestamptz NOT NULL DEFAULT now(),
    payload    jsonb NOT NULL
);
CREATE INDEX alerts_created_idx ON alerts (created_at);
CREATE TABLE alert_deliveries (
    alert_id     bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    sink         text NOT NULL,          -- 'nats', or a webhook's name
    attempts     integer NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    failed_at    timestamptz,            -- given up after the last attempt
    last_error   text,
    PRIMARY KEY (alert_id, sink)
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE alert_deliveries, alerts, alert_cursor;
