-- What the live path keeps aside, and the names registries are reached by.
--
-- quarantine: events and bodies from authenticated webhook senders that
-- layerq could not use as configured (an event of no configured registry, a
-- malformed event in a good envelope, a body that does not parse). The
-- receiver stores each on the LAYERQ_QUARANTINE stream before answering the
-- sender 200, and workers move it here; `layerq-ingest quarantine` lists,
-- shows, replays and drops rows. A row is kept once however often the
-- sender retried it (id), and seen counts the deliveries.
--
-- registry_aliases: hosts events named for a configured registry that its
-- configuration did not list (a DNS name, an IP, localhost, an ingress
-- name): recorded when such an event is applied, never a reason to refuse
-- it. Fetching always goes to the configured host.
--
-- The roles get their rights from the default privileges of 00004 and
-- 00005 (layerq_reader reads, layerq_writer writes rows).

-- +goose Up
CREATE TABLE quarantine (
    id          text PRIMARY KEY,
    source      text NOT NULL,
    registry    text NOT NULL DEFAULT '',
    reason      text NOT NULL,
    detail      text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('event', 'body')),
    data        bytea NOT NULL,
    header      jsonb,
    received_at timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    seen        integer NOT NULL DEFAULT 1,
    -- Set when a replay applied or published everything in it.
    replayed_at timestamptz,
    replay_note text
);
CREATE INDEX quarantine_received ON quarantine (received_at);

CREATE TABLE registry_aliases (
    registry   text NOT NULL,
    host       text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    events     bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (registry, host)
);

-- +goose Down
DROP TABLE registry_aliases;
DROP TABLE quarantine;
