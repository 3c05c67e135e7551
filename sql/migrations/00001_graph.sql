-- The layer-sharing graph.
--
-- Content-addressed rows (manifests, blobs, configs) are global: a digest names
-- the same bytes in every repository. Membership rows (repository_manifests,
-- tags) say where a digest lives, and carry deleted_at: a deleted manifest or tag
-- is marked, never forgotten, and stops counting in reports.
--
-- The rows a batch ingests carry no foreign keys: graph.Store.Ingest writes
-- (and commits) the repositories and blobs a batch names before the rest, and
-- a batch's manifests in the same statement as their layer lists and index
-- entries, and before their memberships and tags; nothing ever deletes a
-- repository, manifest or blob row. A foreign-key check per row (tags,
-- memberships and tag events each lock their repository row FOR KEY SHARE,
-- which concurrent writers share) cost about a fifth of the database's time
-- per scanned image.

-- +goose Up
CREATE TABLE repositories (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    registry   text NOT NULL,
    name       text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    UNIQUE (registry, name)
);

CREATE TABLE manifests (
    digest            text PRIMARY KEY,
    media_type        text NOT NULL,
    size              bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('image', 'index', 'artifact')),
    config_digest     text,
    config_media_type text,
    config_size       bigint,
    os                text,
    architecture      text,
    variant           text,
    created           timestamptz,
    artifact_type     text,
    subject_digest    text,
    annotations       jsonb NOT NULL DEFAULT '{}',
    labels            jsonb NOT NULL DEFAULT '{}',
    base_name         text,
    base_digest       text,
    -- Set when the config history does not map onto the layers the way the
    -- OCI image spec says (non-empty entries <-> layers, in order).
    history_mismatch  text,
    layer_count       integer NOT NULL DEFAULT 0,
    layers_size       bigint NOT NULL DEFAULT 0,
    first_seen        timestamptz NOT NULL DEFAULT now()
);
-- Every secondary index costs each ingested row a write: the ones here serve
-- queries in sql/queries (reports and lookups). Add one together with the
-- query that needs it.

CREATE TABLE repository_manifests (
    repository_id   bigint NOT NULL,
    manifest_digest text NOT NULL,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    -- When the manifest was last observed here; a delete older than that
    -- does not apply, and an observation older than a delete does not undo it.
    observed_at     timestamptz NOT NULL,
    deleted_at      timestamptz,
    PRIMARY KEY (repository_id, manifest_digest)
);
CREATE INDEX repository_manifests_digest_idx ON repository_manifests (manifest_digest);

CREATE TABLE tags (
    repository_id   bigint NOT NULL,
    name            text NOT NULL,
    manifest_digest text NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz,
    -- The digest the tag pointed at before its last push; NULL when the tag
    -- was new or came back after a delete. The push sets it from the row it
    -- replaces, for the push's tag event.
    previous_digest text,
    PRIMARY KEY (repository_id, name)
);
CREATE INDEX tags_digest_idx ON tags (manifest_digest);

-- Every observed tag move: pushes (a tag newly pointing at a digest) and deletes.
CREATE TABLE tag_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id   bigint NOT NULL,
    tag             text NOT NULL,
    action          text NOT NULL CHECK (action IN ('push', 'delete')),
    manifest_digest text,
    previous_digest text,
    occurred_at     timestamptz NOT NULL,
    source          text NOT NULL,
    event_id        text
);
-- One registry event can move several tags (a manifest delete untags all
-- its tags); replaying it records nothing new.
CREATE UNIQUE INDEX tag_events_event_id_idx ON tag_events (source, event_id, repository_id, tag, action) WHERE event_id IS NOT NULL;

CREATE TABLE index_children (
    index_digest text NOT NULL,
    position     integer NOT NULL,
    child_digest text NOT NULL,
    media_type   text NOT NULL,
    size         bigint NOT NULL,
    os           text,
    architecture text,
    variant      text,
    os_version   text,
    PRIMARY KEY (index_digest, position)
);

CREATE TABLE blobs (
    digest     text PRIMARY KEY,
    size       bigint NOT NULL,
    -- The media type the blob was first seen with; see manifest_layers.
    media_type text NOT NULL,
    -- The digest of the uncompressed layer, from the image config that lists it.
    diff_id    text
);

CREATE TABLE manifest_layers (
    manifest_digest text NOT NULL,
    position        integer NOT NULL,
    blob_digest     text NOT NULL,
    -- The media type this manifest gives the layer (one blob may be listed
    -- with Docker and OCI media types by different manifests).
    media_type      text NOT NULL,
    -- ChainID per the OCI image spec: the identity of the stack up to here.
    chain_id        text,
    -- The config history entry that made this layer (index into config_history).
    history_index   integer,
    created_by      text,
    created         timestamptz,
    comment         text,
    PRIMARY KEY (manifest_digest, position)
);
CREATE INDEX manifest_layers_blob_idx ON manifest_layers (blob_digest);

-- Image configs with their full history, empty_layer entries included, as
-- one JSON array: written once per config and read rarely, it is one row, not
-- one per entry, and json, which Postgres only checks on the way in, not
-- jsonb, which it parses into a tree. An entry holds created (RFC 3339),
-- created_by, author, comment and empty_layer, each left out when empty or
-- false.
CREATE TABLE configs (
    digest  text PRIMARY KEY,
    history json NOT NULL
);

-- The config history, one row per entry; position counts from 0.
CREATE VIEW config_history AS
SELECT c.digest AS config_digest,
    (e.n - 1)::integer AS position,
    (e.entry->>'created')::timestamptz AS created,
    e.entry->>'created_by' AS created_by,
    e.entry->>'author' AS author,
    e.entry->>'comment' AS comment,
    coalesce((e.entry->>'empty_layer')::boolean, false) AS empty_layer
FROM configs c
CROSS JOIN LATERAL json_array_elements(c.history) WITH ORDINALITY AS e(entry, n);

-- Whatever could not be ingested, with the reason; a scan or worker records it
-- and carries on.
CREATE TABLE ingest_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    registry    text NOT NULL,
    repository  text NOT NULL,
    reference   text NOT NULL,
    source      text NOT NULL,
    class       text NOT NULL,
    reason      text NOT NULL,
    payload     jsonb,
    attempts    integer NOT NULL DEFAULT 1,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ingest_failures_ref_idx ON ingest_failures (registry, repository, reference, source);

-- Registry scans, so an interrupted scan resumes where it stopped.
CREATE TABLE scans (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    registry    text NOT NULL,
    repo_glob   text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE TABLE scan_repositories (
    scan_id    bigint NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    repository text NOT NULL,
    done_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scan_id, repository)
);

-- +goose Down
DROP VIEW config_history;
DROP TABLE scan_repositories, scans, ingest_failures, configs,
    manifest_layers, blobs, index_children, tag_events, tags,
    repository_manifests, manifests, repositories;
